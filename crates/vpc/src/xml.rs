//! A small writer of EC2's XML responses: `<OperationResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">`
//! with a `requestId`, elements named by the model's `locationName`s, lists as `<item>`s.

/// EC2's XML namespace.
pub const NAMESPACE: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";

/// An XML document being written.
#[derive(Debug, Default)]
pub struct Xml {
    out: String,
}

/// Escapes text for element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

impl Xml {
    /// A response document for `action`, with its request id.
    pub fn response(action: &str, request_id: &str) -> Self {
        let mut xml = Xml { out: String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n") };
        xml.out.push_str(&format!("<{action}Response xmlns=\"{NAMESPACE}\">"));
        xml.leaf("requestId", request_id);
        xml
    }

    /// Opens an element.
    pub fn open(&mut self, tag: &str) -> &mut Self {
        self.out.push('<');
        self.out.push_str(tag);
        self.out.push('>');
        self
    }

    /// Closes an element.
    pub fn close(&mut self, tag: &str) -> &mut Self {
        self.out.push_str("</");
        self.out.push_str(tag);
        self.out.push('>');
        self
    }

    /// An element with text.
    pub fn leaf(&mut self, tag: &str, text: &str) -> &mut Self {
        self.open(tag);
        self.out.push_str(&escape(text));
        self.close(tag)
    }

    /// An element with text, when there is a value.
    pub fn leaf_opt(&mut self, tag: &str, text: Option<&str>) -> &mut Self {
        if let Some(text) = text {
            self.leaf(tag, text);
        }
        self
    }

    /// A `tagSet` of key/value tags.
    pub fn tags(&mut self, tags: &[(String, String)]) -> &mut Self {
        self.open("tagSet");
        for (k, v) in tags {
            self.open("item").leaf("key", k).leaf("value", v).close("item");
        }
        self.close("tagSet")
    }

    /// Ends the response document.
    pub fn finish(mut self, action: &str) -> String {
        self.close(&format!("{action}Response"));
        self.out
    }
}

/// EC2's error document: `<Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>`.
pub fn error(code: &str, message: &str, request_id: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{}</Code><Message>{}</Message></Error></Errors><RequestID>{}</RequestID></Response>",
        escape(code),
        escape(message),
        escape(request_id)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_escaped_and_closed() {
        let mut xml = Xml::response("DescribeVpcs", "r-1");
        xml.open("vpcSet").open("item").leaf("vpcId", "a<b").close("item").close("vpcSet");
        let doc = xml.finish("DescribeVpcs");
        assert!(doc.ends_with(
            "<requestId>r-1</requestId><vpcSet><item><vpcId>a&lt;b</vpcId></item></vpcSet></DescribeVpcsResponse>"
        ));
        assert!(error("X", "a&b", "r").contains("<Code>X</Code><Message>a&amp;b</Message>"));
    }
}

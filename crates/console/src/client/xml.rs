//! A small XML reader for the query protocol's answers (ELBv2, STS): elements, their text and children. Attributes
//! are skipped (the answers carry none the console reads), as are the declaration, comments and processing
//! instructions; the five predefined entities and character references are decoded. Depth is bounded.

/// The deepest nesting read.
const MAX_DEPTH: usize = 64;

/// An element: its local name (any `prefix:` removed), its text (the concatenation of its text nodes) and its
/// child elements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    /// The local name.
    pub name: String,
    /// The text directly inside it.
    pub text: String,
    /// The child elements, in order.
    pub children: Vec<Element>,
}

impl Element {
    /// The first element named `name` at any depth, this one included (depth first).
    pub fn find(&self, name: &str) -> Option<&Element> {
        if self.name == name {
            return Some(self);
        }
        self.children.iter().find_map(|c| c.find(name))
    }

    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The text of the first child named `name`.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }

    /// The `member` elements of the list child `name` (`<name><member>..</member>..</name>`).
    pub fn members(&self, name: &str) -> Vec<&Element> {
        self.child(name).map(|list| list.children.iter().filter(|c| c.name == "member").collect()).unwrap_or_default()
    }

    /// The text at a path of child names.
    pub fn path_text(&self, path: &[&str]) -> Option<&str> {
        let mut at = self;
        for name in path {
            at = at.child(name)?;
        }
        Some(at.text.as_str())
    }
}

/// Why a document could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum XmlError {
    /// The document ended inside markup or an element.
    #[error("the XML document ends early")]
    Truncated,
    /// A closing tag names another element than the open one.
    #[error("the closing tag </{found}> does not close <{open}>")]
    Mismatch {
        /// The open element.
        open: String,
        /// The closing tag's name.
        found: String,
    },
    /// Nesting deeper than the reader allows.
    #[error("the XML document nests deeper than {MAX_DEPTH} elements")]
    TooDeep,
    /// No root element, or text outside it.
    #[error("the XML document has no single root element")]
    NoRoot,
    /// An entity that is neither predefined nor a character reference.
    #[error("unknown entity &{0};")]
    Entity(String),
}

/// Reads a document into its root element.
pub fn parse(text: &str) -> Result<Element, XmlError> {
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("<?") {
            rest = skip_past(after, "?>")?;
        } else if let Some(after) = rest.strip_prefix("<!--") {
            rest = skip_past(after, "-->")?;
        } else if let Some(after) = rest.strip_prefix("<![CDATA[") {
            let end = after.find("]]>").ok_or(XmlError::Truncated)?;
            stack.last_mut().ok_or(XmlError::NoRoot)?.text.push_str(&after[..end]);
            rest = &after[end + 3..];
        } else if let Some(after) = rest.strip_prefix("<!") {
            rest = skip_past(after, ">")?;
        } else if let Some(after) = rest.strip_prefix("</") {
            let end = after.find('>').ok_or(XmlError::Truncated)?;
            let found = local_name(after[..end].trim());
            let element = stack.pop().ok_or(XmlError::NoRoot)?;
            if element.name != found {
                return Err(XmlError::Mismatch { open: element.name, found: found.to_string() });
            }
            close(&mut stack, &mut root, element)?;
            rest = &after[end + 1..];
        } else if let Some(after) = rest.strip_prefix('<') {
            let end = tag_end(after)?;
            let tag = &after[..end];
            let (tag, empty) = match tag.strip_suffix('/') {
                Some(t) => (t, true),
                None => (tag, false),
            };
            let name = local_name(tag.split(|c: char| c.is_whitespace()).next().unwrap_or_default());
            let element = Element { name: name.to_string(), ..Element::default() };
            if empty {
                close(&mut stack, &mut root, element)?;
            } else {
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError::TooDeep);
                }
                stack.push(element);
            }
            rest = &after[end + 1..];
        } else {
            let end = rest.find('<').unwrap_or(rest.len());
            let raw = &rest[..end];
            match stack.last_mut() {
                Some(open) => open.text.push_str(&decode(raw)?),
                None if raw.trim().is_empty() => {}
                None => return Err(XmlError::NoRoot),
            }
            rest = &rest[end..];
        }
    }
    if !stack.is_empty() {
        return Err(XmlError::Truncated);
    }
    root.ok_or(XmlError::NoRoot)
}

/// Puts a finished element into its parent, or makes it the root.
fn close(stack: &mut [Element], root: &mut Option<Element>, element: Element) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None if root.is_none() => *root = Some(element),
        None => return Err(XmlError::NoRoot),
    }
    Ok(())
}

/// The text after the first `end`.
fn skip_past<'a>(text: &'a str, end: &str) -> Result<&'a str, XmlError> {
    let at = text.find(end).ok_or(XmlError::Truncated)?;
    Ok(&text[at + end.len()..])
}

/// Where a start tag's `>` is, skipping quoted attribute values.
fn tag_end(text: &str) -> Result<usize, XmlError> {
    let mut quote: Option<char> = None;
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '>') => return Ok(i),
            (None, _) => {}
        }
    }
    Err(XmlError::Truncated)
}

/// A name without its namespace prefix.
fn local_name(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

/// Text with its entities decoded.
fn decode(raw: &str) -> Result<String, XmlError> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let end = after.find(';').ok_or(XmlError::Truncated)?;
        let entity = &after[..end];
        let c = match entity {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => match entity.strip_prefix("#x").or_else(|| entity.strip_prefix("#X")) {
                Some(hex) => u32::from_str_radix(hex, 16).ok().and_then(char::from_u32),
                None => entity.strip_prefix('#').and_then(|d| d.parse::<u32>().ok()).and_then(char::from_u32),
            },
        };
        out.push(c.ok_or_else(|| XmlError::Entity(entity.to_string()))?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_query_answer_with_lists_and_entities() {
        let doc = parse(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeTargetHealthResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/">
  <DescribeTargetHealthResult>
    <TargetHealthDescriptions>
      <member><Target><Id>10.0.0.1</Id><Port>80</Port></Target>
        <TargetHealth><State>unhealthy</State><Description>a &lt;b&gt; &amp; &#x41;&#66;</Description></TargetHealth>
      </member>
      <member><Target><Id>10.0.0.2</Id></Target><Empty/></member>
    </TargetHealthDescriptions>
  </DescribeTargetHealthResult>
  <!-- a comment -->
  <ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata>
</DescribeTargetHealthResponse>"#,
        )
        .unwrap();
        let result = doc.child("DescribeTargetHealthResult").unwrap();
        let members = result.members("TargetHealthDescriptions");
        assert_eq!(members.len(), 2);
        assert_eq!(members[0].path_text(&["Target", "Id"]), Some("10.0.0.1"));
        assert_eq!(members[0].path_text(&["TargetHealth", "Description"]), Some("a <b> & AB"));
        assert_eq!(members[1].path_text(&["Target", "Port"]), None);
        assert_eq!(doc.find("RequestId").map(|e| e.text.as_str()), Some("r-1"));
    }

    #[test]
    fn refuses_broken_documents() {
        assert_eq!(parse("<a><b></a>"), Err(XmlError::Mismatch { open: "b".into(), found: "a".into() }));
        assert_eq!(parse("<a>"), Err(XmlError::Truncated));
        assert_eq!(parse("<a x=\"1>"), Err(XmlError::Truncated));
        assert_eq!(parse("text"), Err(XmlError::NoRoot));
        assert_eq!(parse("<a/><b/>"), Err(XmlError::NoRoot));
        assert_eq!(parse("<a>&bogus;</a>"), Err(XmlError::Entity("bogus".into())));
        assert_eq!(parse(&"<a>".repeat(100)), Err(XmlError::TooDeep));
    }

    #[test]
    fn attributes_with_angle_brackets_and_prefixes_are_skipped() {
        let doc = parse(r#"<s:Envelope a="x>y"><s:Body>t</s:Body></s:Envelope>"#).unwrap();
        assert_eq!(doc.name, "Envelope");
        assert_eq!(doc.child_text("Body"), Some("t"));
    }
}

//! The little of the DNS wire format a forwarder needs: whether bytes are a query, and a SERVFAIL answer to one.
//! The forwarder relays messages as they are; it never decodes records.

/// The length of a DNS header.
pub const HEADER: usize = berth_dnsio::HEADER;

/// Whether `bytes` can be a query: a whole header with the response bit clear.
pub fn is_query(bytes: &[u8]) -> bool {
    bytes.len() >= HEADER && bytes[2] & 0x80 == 0
}

/// The end of the question section (its offset), when the header's questions are all there.
fn question_end(bytes: &[u8]) -> Option<usize> {
    let count = u16::from_be_bytes([bytes[4], bytes[5]]);
    let mut at = HEADER;
    for _ in 0..count {
        loop {
            let len = *bytes.get(at)? as usize;
            if len == 0 {
                at += 1;
                break;
            }
            if len & 0xc0 == 0xc0 {
                bytes.get(at + 1)?;
                at += 2;
                break;
            }
            at += 1 + len;
        }
        at += 4; // type and class
        if at > bytes.len() {
            return None;
        }
    }
    Some(at)
}

/// SERVFAIL for `query` (a query per [`is_query`]): its id, flags and question, no records, so a resolver matches it
/// to its question and moves on at once instead of waiting out its timeout. `None` when the question is cut short.
pub fn servfail(query: &[u8]) -> Option<Vec<u8>> {
    if !is_query(query) {
        return None;
    }
    let end = question_end(query)?;
    let mut out = query[..end].to_vec();
    out[2] = (out[2] | 0x80) & !0x06; // QR, keep opcode and RD; clear AA and TC
    out[3] = 0x80 | 0x02; // RA, SERVFAIL
    out[6..12].fill(0);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query for `a.b` type A with the RD bit, id 0x1234.
    fn query() -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        q.extend_from_slice(&[1, b'a', 1, b'b', 0, 0, 1, 0, 1]);
        q
    }

    #[test]
    fn servfail_keeps_the_id_and_question() {
        let q = query();
        assert!(is_query(&q));
        let answer = servfail(&q).unwrap();
        assert_eq!(&answer[..2], &[0x12, 0x34]);
        assert_eq!(answer[2], 0x81, "a response, recursion desired kept");
        assert_eq!(answer[3] & 0x0f, 2, "SERVFAIL");
        assert_eq!(&answer[4..6], &[0, 1]);
        assert_eq!(&answer[6..12], &[0; 6]);
        assert_eq!(&answer[12..], &q[12..]);
        // With an EDNS record after the question: dropped (ARCOUNT 0).
        let mut edns = q.clone();
        edns[11] = 1;
        edns.extend_from_slice(&[0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(servfail(&edns).unwrap(), answer);
    }

    #[test]
    fn refuses_responses_and_short_or_cut_messages() {
        let mut response = query();
        response[2] |= 0x80;
        assert!(!is_query(&response));
        assert!(servfail(&response).is_none());
        assert!(!is_query(&[0; 11]));
        let q = query();
        assert!(servfail(&q[..15]).is_none(), "question cut short");
        let mut pointer = q[..12].to_vec();
        pointer.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1]);
        assert_eq!(servfail(&pointer).unwrap().len(), 18);
    }
}

//! Message structure computed once at append and stored beside the content, so FETCH can
//! answer from metadata without re-parsing the message.

/// What FETCH needs to know about a stored message.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct MessageMeta {
    header_len: u64,
}

const VERSION: u8 = 1;

impl MessageMeta {
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(VERSION);
        out.extend_from_slice(&self.header_len.to_le_bytes());
    }

    pub fn decode(bytes: &[u8]) -> Option<MessageMeta> {
        match bytes {
            [VERSION, rest @ ..] if rest.len() == 8 => Some(MessageMeta {
                header_len: u64::from_le_bytes(rest.try_into().ok()?),
            }),
            _ => None,
        }
    }

    /// Octets of the top-level header including the empty line that ends it.
    pub fn header_len(&self) -> u64 {
        self.header_len
    }
}

/// Analyses a CRLF-normalised message.
pub fn analyze(raw: &[u8]) -> MessageMeta {
    let header_len = if raw.starts_with(b"\r\n") {
        2
    } else {
        raw.windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(raw.len(), |p| p + 4)
    };
    MessageMeta {
        header_len: header_len as u64,
    }
}

//! Modified UTF-7 for mailbox names (RFC 3501 §5.1.3).
//!
//! Names are stored as UTF-8 and converted at the wire: `decode` for names a client sends,
//! `encode` for names the server sends.

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/// UTF-8 → modified UTF-7.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    for ch in name.chars() {
        if (' '..='~').contains(&ch) {
            flush(&mut out, &mut pending);
            if ch == '&' {
                out.push_str("&-");
            } else {
                out.push(ch);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(ch.encode_utf16(&mut buf));
        }
    }
    flush(&mut out, &mut pending);
    out
}

/// Writes the pending UTF-16 units as one `&...-` run.
fn flush(out: &mut String, units: &mut Vec<u16>) {
    if units.is_empty() {
        return;
    }
    out.push('&');
    let bytes: Vec<u8> = units.iter().flat_map(|u| u.to_be_bytes()).collect();
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out.push('-');
    units.clear();
}

/// Modified UTF-7 → UTF-8. Fails on 8-bit input, bad base64, unterminated shifts,
/// odd UTF-16 and on printable ASCII hidden in a shift (the encoding must be canonical).
pub fn decode(wire: &str) -> Result<String, ()> {
    let bytes = wire.as_bytes();
    let mut out = String::with_capacity(wire.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !(0x20..0x7f).contains(&b) {
            return Err(());
        }
        if b != b'&' {
            out.push(b as char);
            i += 1;
            continue;
        }
        let end = bytes[i + 1..].iter().position(|&c| c == b'-').ok_or(())? + i + 1;
        let run = &bytes[i + 1..end];
        i = end + 1;
        if run.is_empty() {
            out.push('&');
            continue;
        }
        let mut bits: u32 = 0;
        let mut nbits = 0;
        let mut units = Vec::new();
        for &c in run {
            let v = B64.iter().position(|&x| x == c).ok_or(())? as u32;
            bits = (bits << 6) | v;
            nbits += 6;
            if nbits >= 16 {
                nbits -= 16;
                units.push(((bits >> nbits) & 0xffff) as u16);
            }
        }
        // Leftover bits must be zero padding (< 6 bits).
        if nbits >= 6 || bits & ((1 << nbits) - 1) != 0 {
            return Err(());
        }
        let s = String::from_utf16(&units).map_err(|_| ())?;
        if s.chars().any(|c| (' '..='~').contains(&c)) {
            return Err(());
        }
        out.push_str(&s);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_example_roundtrips() {
        // RFC 3501 §5.1.3 example.
        let wire = "~peter/mail/&U,BTFw-/&ZeVnLIqe-";
        let utf8 = decode(wire).unwrap();
        assert_eq!(utf8, "~peter/mail/台北/日本語");
        assert_eq!(encode(&utf8), wire);
    }

    #[test]
    fn ampersand_and_latin() {
        assert_eq!(encode("A&B"), "A&-B");
        assert_eq!(decode("A&-B").unwrap(), "A&B");
        assert_eq!(encode("Entwürfe"), "Entw&APw-rfe");
        assert_eq!(decode("Entw&APw-rfe").unwrap(), "Entwürfe");
        assert_eq!(encode("😀"), "&2D3eAA-");
        assert_eq!(decode("&2D3eAA-").unwrap(), "😀");
    }

    #[test]
    fn rejects_bad_input() {
        assert!(decode("&APw").is_err()); // unterminated
        assert!(decode("&AGE-").is_err()); // 'a' must not be encoded
        assert!(decode("ü").is_err());
        assert!(decode("&A!-").is_err());
    }
}

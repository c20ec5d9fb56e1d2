//! Standard base64 (RFC 4648 §4): SASL exchanges, and the line-structured form of MIME bodies
//! (RFC 2045 §6.8) that the store keeps decoded (`store::blob`) and re-encodes on every read, so
//! that path is table-driven and written with slice patterns (at opt-level "s", iterator
//! adapters are not inlined).

/// The standard base64 alphabet (RFC 2045 §6.8).
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Value of a base64 character, 0xff for anything else (padding included).
const fn b64_values() -> [u8; 256] {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 64 {
        t[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    t
}
const B64_VALUE: [u8; 256] = b64_values();

/// The two characters of every 12-bit value: encoding looks up 12 bits at a time.
const fn b64_pairs() -> [[u8; 2]; 4096] {
    let mut t = [[0u8; 2]; 4096];
    let mut i = 0;
    while i < 4096 {
        t[i] = [ALPHABET[i >> 6], ALPHABET[i & 63]];
        i += 1;
    }
    t
}
static B64_PAIRS: [[u8; 2]; 4096] = b64_pairs();

/// Decodes complete 4-character quanta without padding; false (and nothing added) on anything
/// else.
pub fn decode_quanta(chars: &[u8], out: &mut Vec<u8>) -> bool {
    if !chars.len().is_multiple_of(4) {
        return false;
    }
    let at = out.len();
    out.resize(at + chars.len() / 4 * 3, 0);
    // Invalid characters map to 0xff: any of them leaves a high bit in `bad`. Slice patterns
    // rather than iterator adapters: at opt-level "s" those are not inlined.
    let mut bad = 0u8;
    let (mut src, mut dst) = (chars, &mut out[at..]);
    while let ([a, b, c, d, rest @ ..], [x, y, z, more @ ..]) = (src, dst) {
        let v = |ch: &u8| B64_VALUE[usize::from(*ch)];
        let (a, b, c, d) = (v(a), v(b), v(c), v(d));
        bad |= a | b | c | d;
        let n = (u32::from(a) << 18) | (u32::from(b) << 12) | (u32::from(c) << 6) | u32::from(d);
        *x = (n >> 16) as u8;
        *y = (n >> 8) as u8;
        *z = n as u8;
        (src, dst) = (rest, more);
    }
    if bad & 0xc0 != 0 {
        out.truncate(at);
        return false;
    }
    true
}

/// Decodes the last quantum of a run, which may be padded; false unless canonical (padding bits
/// zero), so the octets re-encode to the same characters.
pub fn decode_final(q: &[u8], out: &mut Vec<u8>) -> bool {
    let pad = q.iter().rev().take_while(|&&c| c == b'=').count();
    if q.len() != 4 || pad > 2 {
        return false;
    }
    let mut n = 0u32;
    for &c in &q[..4 - pad] {
        let x = B64_VALUE[c as usize];
        if x == 0xff {
            return false;
        }
        n = (n << 6) | u32::from(x);
    }
    match pad {
        0 => out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]),
        1 if n & 0x3 == 0 => out.extend_from_slice(&[(n >> 10) as u8, (n >> 2) as u8]),
        2 if n & 0xf == 0 => out.push((n >> 4) as u8),
        _ => return false,
    }
    true
}

/// Octets of `n` decoded octets encoded in lines of `line` characters.
pub fn encoded_len(n: usize, line: usize, final_crlf: bool) -> usize {
    let chars = n.div_ceil(3) * 4;
    let lines = chars.div_ceil(line);
    chars + 2 * lines.saturating_sub(1) + if final_crlf && lines > 0 { 2 } else { 0 }
}

/// Appends the base64 encoding of `data` in lines of `line` characters (a multiple of 4).
pub fn encode_lines(data: &[u8], line: usize, final_crlf: bool, out: &mut Vec<u8>) {
    let at = out.len();
    out.resize(at + encoded_len(data.len(), line, final_crlf), 0);
    let mut dst = &mut out[at..];
    let per_line = line / 4 * 3;
    let mut lines = data.chunks(per_line).peekable();
    while let Some(src) = lines.next() {
        let full = src.len() / 3 * 3;
        let (body, rest) = dst.split_at_mut(src.len().div_ceil(3) * 4);
        let (mut from, mut to) = (&src[..full], &mut *body);
        while let ([a, b, c, more @ ..], [w, x, y, z, rest @ ..]) = (from, to) {
            let n = (u32::from(*a) << 16) | (u32::from(*b) << 8) | u32::from(*c);
            let [hi, lo] = [
                B64_PAIRS[(n >> 12) as usize],
                B64_PAIRS[(n & 0xfff) as usize],
            ];
            (*w, *x, *y, *z) = (hi[0], hi[1], lo[0], lo[1]);
            (from, to) = (more, rest);
        }
        let tail = &src[full..];
        if !tail.is_empty() {
            let c = &mut body[full / 3 * 4..];
            let b1 = tail.get(1).copied().unwrap_or(0);
            let n = (u32::from(tail[0]) << 16) | (u32::from(b1) << 8);
            c[0] = ALPHABET[(n >> 18) as usize];
            c[1] = ALPHABET[(n >> 12 & 63) as usize];
            c[2] = if tail.len() == 2 {
                ALPHABET[(n >> 6 & 63) as usize]
            } else {
                b'='
            };
            c[3] = b'=';
        }
        dst = rest;
        if lines.peek().is_some() || final_crlf {
            let (eol, rest) = dst.split_at_mut(2);
            eol[0] = b'\r';
            eol[1] = b'\n';
            dst = rest;
        }
    }
}

#[cfg(test)]
pub fn encode(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Strict decode (whitespace not allowed; padding optional).
pub fn decode(input: &[u8]) -> Option<Vec<u8>> {
    let input = input
        .strip_suffix(b"==")
        .or_else(|| input.strip_suffix(b"="))
        .unwrap_or(input);
    let mut out = Vec::with_capacity(input.len() * 3 / 4);
    let mut bits: u32 = 0;
    let mut n = 0;
    for &c in input {
        let v = B64_VALUE[usize::from(c)];
        if v == 0xff {
            return None;
        }
        let v = u32::from(v);
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    (n < 6).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4648_vectors() {
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(encode(plain.as_bytes()), enc);
            assert_eq!(decode(enc.as_bytes()).unwrap(), plain.as_bytes());
        }
        assert!(decode(b"Zm9v!").is_none());
        assert_eq!(decode(b"AGFsaWNlAHB3").unwrap(), b"\0alice\0pw");
    }

    #[test]
    fn base64_line_lengths() {
        for n in 0..20 {
            for line in [4, 8, 76] {
                for crlf in [false, true] {
                    let data: Vec<u8> = (0..n as u8).collect();
                    let mut out = Vec::new();
                    encode_lines(&data, line, crlf, &mut out);
                    assert_eq!(out.len(), encoded_len(n, line, crlf));
                    let mut back = Vec::new();
                    let text: Vec<u8> = out
                        .iter()
                        .copied()
                        .filter(|&c| c != b'\r' && c != b'\n')
                        .collect();
                    let (head, tail) = text.split_at(text.len().saturating_sub(4));
                    if n > 0 {
                        assert!(decode_quanta(head, &mut back) && decode_final(tail, &mut back));
                    }
                    assert_eq!(back, data);
                }
            }
        }
    }
}

//! A tiny binary encoding for stored records: LEB128 varints, length-prefixed bytes.
//!
//! Every record starts with a version byte so the format can grow; decoders return
//! [`Corrupt`] instead of panicking on short or bad input.

/// A stored value could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corrupt;

/// Appends encoded values to a byte vector.
#[derive(Default)]
pub struct Writer(pub Vec<u8>);

impl Writer {
    pub fn new(version: u8) -> Self {
        Writer(vec![version])
    }
    pub fn u64(&mut self, mut v: u64) -> &mut Self {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.0.push(b);
                return self;
            }
            self.0.push(b | 0x80);
        }
    }
    pub fn i64(&mut self, v: i64) -> &mut Self {
        // zig-zag
        self.u64(((v << 1) ^ (v >> 63)) as u64)
    }
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.u64(b.len() as u64);
        self.0.extend_from_slice(b);
        self
    }
    pub fn str(&mut self, s: &str) -> &mut Self {
        self.bytes(s.as_bytes())
    }
    pub fn strs(&mut self, list: &[String]) -> &mut Self {
        self.u64(list.len() as u64);
        for s in list {
            self.str(s);
        }
        self
    }
    pub fn opt_u64(&mut self, v: Option<u64>) -> &mut Self {
        match v {
            Some(v) => self.u64(v + 1),
            None => self.u64(0),
        }
    }
    pub fn finish(self) -> Vec<u8> {
        self.0
    }
}

/// Reads values written by [`Writer`].
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Checks the version byte.
    pub fn new(buf: &'a [u8], version: u8) -> Result<Self, Corrupt> {
        if buf.first() != Some(&version) {
            return Err(Corrupt);
        }
        Ok(Reader { buf, pos: 1 })
    }
    pub fn u64(&mut self) -> Result<u64, Corrupt> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos).ok_or(Corrupt)?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(Corrupt)
    }
    pub fn u32(&mut self) -> Result<u32, Corrupt> {
        self.u64()?.try_into().map_err(|_| Corrupt)
    }
    pub fn i64(&mut self) -> Result<i64, Corrupt> {
        let v = self.u64()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }
    pub fn bytes(&mut self) -> Result<&'a [u8], Corrupt> {
        let n = usize::try_from(self.u64()?).map_err(|_| Corrupt)?;
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or(Corrupt)?;
        let b = &self.buf[self.pos..end];
        self.pos = end;
        Ok(b)
    }
    pub fn str(&mut self) -> Result<String, Corrupt> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|_| Corrupt)
    }
    pub fn strs(&mut self) -> Result<Vec<String>, Corrupt> {
        let n = self.u64()?;
        if n > 100_000 {
            return Err(Corrupt);
        }
        (0..n).map(|_| self.str()).collect()
    }
    pub fn opt_u64(&mut self) -> Result<Option<u64>, Corrupt> {
        Ok(self.u64()?.checked_sub(1))
    }
    /// True when every byte was read.
    #[cfg(test)]
    pub fn at_end(&self) -> bool {
        self.pos == self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let mut w = Writer::new(1);
        w.u64(0)
            .u64(300)
            .u64(u64::MAX)
            .i64(-5)
            .str("héllo")
            .opt_u64(None)
            .opt_u64(Some(0));
        w.strs(&["a".into(), "b".into()]);
        let buf = w.finish();
        let mut r = Reader::new(&buf, 1).unwrap();
        assert_eq!(r.u64().unwrap(), 0);
        assert_eq!(r.u64().unwrap(), 300);
        assert_eq!(r.u64().unwrap(), u64::MAX);
        assert_eq!(r.i64().unwrap(), -5);
        assert_eq!(r.str().unwrap(), "héllo");
        assert_eq!(r.opt_u64().unwrap(), None);
        assert_eq!(r.opt_u64().unwrap(), Some(0));
        assert_eq!(r.strs().unwrap(), vec!["a", "b"]);
        assert!(r.at_end());
        assert!(r.u64().is_err());
        assert!(Reader::new(&buf, 2).is_err());
        assert!(Reader::new(&[1, 0xff], 1).unwrap().u64().is_err());
    }
}

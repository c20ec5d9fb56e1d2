//! Message content: CRLF-normalised, split into chunks of at most 64 KiB: base64 runs stored
//! decoded, the rest LZ4-compressed when that saves at least a tenth. Content is shared between
//! messages by reference count (COPY never duplicates).

use miniz_oxide::inflate::TINFLStatus;
use miniz_oxide::inflate::core::DecompressorOxide;
use miniz_oxide::inflate::core::decompress;
use miniz_oxide::inflate::core::inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
use redb::{ReadTransaction, ReadableTable, WriteTransaction};

use super::schema::{BLOBS, BlobRecord, CHUNK, CHUNKS};
use super::{Result, StoreError};
use crate::base64::{decode_final, decode_quanta, encode_lines};

/// Chunk encodings: the first byte of every stored chunk.
const RAW: u8 = 0;
/// Raw deflate (schema 1 and early schema 2 files; no longer written).
const DEFLATE: u8 = 1;
/// A run of base64 lines stored decoded: `[BASE64, line length, final CRLF (0/1)]` + the
/// decoded octets. The content is the standard-alphabet encoding cut into lines of that many
/// characters, each followed by CRLF but the last, which has one when the flag is 1. Only runs
/// that re-encode to exactly the received octets are stored this way (checked at append).
const BASE64: u8 = 2;
/// An LZ4 block (the content length is the chunk's length in the blob record).
const LZ4: u8 = 3;
/// Smallest base64 run worth its own chunks.
const MIN_BASE64_RUN: usize = 1024;

/// Content ready to insert: prepared off the writer thread, since compressing and parsing cost CPU.
pub struct Prepared {
    pub size: u64,
    chunks: Vec<Vec<u8>>,
    /// Content octets in each chunk.
    lens: Vec<u32>,
    pub meta: Vec<u8>,
}

/// Converts bare LF (and lone CR) line ends to CRLF: IMAP requires CRLF and RFC822.SIZE must
/// equal the octets FETCH sends.
pub fn normalize_crlf(raw: Vec<u8>) -> Vec<u8> {
    // Line ends are found a vector at a time; most mail needs no change at all.
    let bad = memchr::memchr2_iter(b'\r', b'\n', &raw).find(|&p| {
        if raw[p] == b'\r' {
            raw.get(p + 1) != Some(&b'\n')
        } else {
            p == 0 || raw[p - 1] != b'\r'
        }
    });
    let Some(first) = bad else {
        return raw;
    };
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 32);
    out.extend_from_slice(&raw[..first]);
    let mut i = first;
    while i < raw.len() {
        match raw[i] {
            b'\r' if raw.get(i + 1) == Some(&b'\n') => {
                out.extend_from_slice(b"\r\n");
                i += 2;
                continue;
            }
            b'\r' | b'\n' => out.extend_from_slice(b"\r\n"),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// Normalises, analyses and compresses a message. Blocking CPU work: run it via `smol::unblock`.
pub fn prepare(raw: Vec<u8>) -> Prepared {
    prepare_normalized(normalize_crlf(raw))
}

/// [`prepare`] for content already passed through [`normalize_crlf`].
pub fn prepare_normalized(raw: Vec<u8>) -> Prepared {
    let analysis = crate::mime::analyze(&raw);
    let mut meta = Vec::new();
    analysis.encode(&mut meta);
    let (mut chunks, mut lens) = (Vec::new(), Vec::new());
    let mut pos = 0;
    for (start, end) in crate::mime::base64_bodies(&analysis) {
        let (Ok(start), Ok(end)) = (usize::try_from(start), usize::try_from(end)) else {
            continue;
        };
        if start < pos || end > raw.len() || end - start < MIN_BASE64_RUN {
            continue;
        }
        split(&raw[pos..start], &mut chunks, &mut lens);
        pos = start + base64_run(&raw[start..end], &mut chunks, &mut lens);
    }
    split(&raw[pos..], &mut chunks, &mut lens);
    Prepared {
        size: raw.len() as u64,
        chunks,
        lens,
        meta,
    }
}

/// Cuts content into stored chunks of at most [`CHUNK`] octets. Compressible content is LZ4
/// compressed in pieces sized so each compressed piece nearly fills a chunk (redb rounds a large value up to
/// a power-of-two page, so a half-empty chunk would waste the difference); content that does not
/// shrink by a tenth is stored raw in full chunks.
fn split(raw: &[u8], chunks: &mut Vec<Vec<u8>>, lens: &mut Vec<u32>) {
    const MAX_PIECE: usize = 1 << 20;
    let mut pos = 0;
    // Compressed size per raw octet seen so far (starts optimistic for text).
    let mut ratio = 0.5f64;
    while pos < raw.len() {
        let rest = raw.len() - pos;
        let mut take = ((CHUNK - 1) as f64 / ratio * 0.97) as usize;
        take = take.clamp(1, MAX_PIECE).min(rest);
        loop {
            let piece = &raw[pos..pos + take];
            let z = lz4_flex::block::compress(piece);
            if z.len() >= piece.len() - piece.len() / 10 {
                // Incompressible: raw, as much as fits.
                let n = rest.min(CHUNK - 1);
                let mut c = Vec::with_capacity(n + 1);
                c.push(RAW);
                c.extend_from_slice(&raw[pos..pos + n]);
                chunks.push(c);
                lens.push(n as u32);
                pos += n;
                ratio = 1.0;
                break;
            }
            if z.len() < CHUNK {
                let mut c = Vec::with_capacity(z.len() + 1);
                c.push(LZ4);
                c.extend_from_slice(&z);
                chunks.push(c);
                lens.push(take as u32);
                pos += take;
                ratio = (z.len() as f64 / take as f64).max(0.01);
                break;
            }
            // Too big for one chunk: shrink the piece in proportion and try again.
            take = (take as f64 * (CHUNK - 1) as f64 / z.len() as f64 * 0.95) as usize;
        }
    }
}

/// Cuts the base64 run at the start of `body` into chunks of whole lines stored decoded (see
/// [`BASE64`]) and returns the content octets it covers: lines of one length (a multiple of 4)
/// ending in CRLF, then at most one shorter, padded line. Every chunk is checked to re-encode to
/// exactly the octets it stands for; when one does not, or the run is too short, nothing is
/// added and the result is 0. One pass, no copy of the whole run.
fn base64_run(body: &[u8], chunks: &mut Vec<Vec<u8>>, lens: &mut Vec<u32>) -> usize {
    let Some(line) = memchr::memmem::find(body, b"\r\n") else {
        return 0;
    };
    if line == 0 || !line.is_multiple_of(4) || line > 252 {
        return 0;
    }
    let per_line = line / 4 * 3;
    let per_chunk = (CHUNK - 3) / per_line * per_line;
    let fresh = || {
        let mut c = Vec::with_capacity(3 + per_chunk);
        c.extend_from_slice(&[BASE64, line as u8, 1]);
        c
    };
    let mark = chunks.len();
    let (mut cur, mut pos, mut from) = (fresh(), 0, 0);
    // Full lines: `line` alphabet characters and CRLF.
    while let Some(l) = body.get(pos..pos + line + 2) {
        if &l[line..] != b"\r\n" || !decode_quanta(&l[..line], &mut cur) {
            break;
        }
        pos += line + 2;
        if cur.len() - 3 == per_chunk {
            lens.push((pos - from) as u32);
            chunks.push(std::mem::replace(&mut cur, fresh()));
            from = pos;
        }
    }
    // One last line, possibly padded, possibly without CRLF at the end of the body.
    let rest = &body[pos..];
    let end = memchr::memmem::find(rest, b"\r\n");
    let last = &rest[..end.unwrap_or(rest.len())];
    if !last.is_empty() && last.len() <= line && last.len().is_multiple_of(4) {
        let keep = cur.len();
        let (head, tail) = last.split_at(last.len() - 4);
        if decode_quanta(head, &mut cur) && decode_final(tail, &mut cur) {
            pos += last.len();
            match end {
                Some(_) => pos += 2,
                None => cur[2] = 0,
            }
        } else {
            cur.truncate(keep);
        }
    }
    if cur.len() > 3 {
        lens.push((pos - from) as u32);
        chunks.push(cur);
    }
    // Keep only what re-encodes to the very same octets. The first chunk (line structure) and
    // the last (short line, padding, final CRLF) are encoded again and compared; the chunks
    // between hold only full lines of full quanta, which map one to one to their octets.
    let mut ok = pos >= MIN_BASE64_RUN;
    let (mut check, mut at, last) = (Vec::new(), 0, chunks.len().saturating_sub(1));
    for (i, (c, &n)) in chunks[mark..].iter().zip(&lens[mark..]).enumerate() {
        let n = n as usize;
        if i == 0 || mark + i == last {
            check.clear();
            encode_lines(&c[3..], line, c[2] == 1, &mut check);
            ok = ok && check.len() == n && check == body[at..at + n];
        }
        at += n;
    }
    if !ok {
        chunks.truncate(mark);
        lens.truncate(mark);
        return 0;
    }
    pos
}

/// Stores prepared content with refcount 1; returns the blob id: one past the last in BLOBS,
/// so no counter is written. The id of a deleted last blob can come back; that is safe as blob
/// ids are only ever followed inside the snapshot (or write) that read them from a message row.
pub fn insert(txn: &WriteTransaction, p: &Prepared) -> Result<u64> {
    let mut blobs = txn.open_table(BLOBS)?;
    let id = blobs.last()?.map_or(1, |(k, _)| k.value() + 1);
    let mut chunks = txn.open_table(CHUNKS)?;
    for (i, c) in p.chunks.iter().enumerate() {
        chunks.insert((id, i as u32), c.as_slice())?;
    }
    let rec = BlobRecord {
        refcount: 1,
        size: p.size,
        meta: p.meta.clone(),
        chunks: p.lens.clone(),
    };
    blobs.insert(id, rec.encode().as_slice())?;
    Ok(id)
}

/// Adds `n` references (COPY).
pub fn incref(txn: &WriteTransaction, id: u64, n: u32) -> Result<()> {
    let mut blobs = txn.open_table(BLOBS)?;
    let mut rec = BlobRecord::decode(
        blobs
            .get(id)?
            .ok_or(StoreError::Internal("missing blob".into()))?
            .value(),
    )?;
    rec.refcount += n;
    blobs.insert(id, rec.encode().as_slice())?;
    Ok(())
}

/// Drops one reference; deletes the content with the last one.
pub fn decref(txn: &WriteTransaction, id: u64) -> Result<()> {
    let mut blobs = txn.open_table(BLOBS)?;
    let Some(mut rec) = blobs
        .get(id)?
        .map(|v| BlobRecord::decode(v.value()))
        .transpose()?
    else {
        return Ok(());
    };
    rec.refcount = rec.refcount.saturating_sub(1);
    if rec.refcount > 0 {
        blobs.insert(id, rec.encode().as_slice())?;
        return Ok(());
    }
    blobs.remove(id)?;
    let mut chunks = txn.open_table(CHUNKS)?;
    for i in 0..rec.chunk_count() {
        chunks.remove((id, i))?;
    }
    Ok(())
}

/// Reads content within one snapshot. It keeps the tables open, the last blob record and the
/// last chunk it decoded only in part, so reading a message in consecutive ranges decodes each
/// chunk once; chunks read whole are decoded straight into the caller's buffer.
pub struct Reader {
    chunks: redb::ReadOnlyTable<(u64, u32), &'static [u8]>,
    blobs: redb::ReadOnlyTable<u64, &'static [u8]>,
    record: Option<(u64, BlobRecord)>,
    /// `(blob, chunk)` whose content is in `cache`.
    cached: Option<(u64, u32)>,
    cache: Vec<u8>,
    inflater: Option<Box<DecompressorOxide>>,
}

impl Reader {
    pub fn new(rtx: &ReadTransaction) -> Result<Reader> {
        Ok(Reader {
            chunks: rtx.open_table(CHUNKS)?,
            blobs: rtx.open_table(BLOBS)?,
            record: None,
            cached: None,
            cache: Vec::new(),
            inflater: None,
        })
    }

    /// The record of blob `id` (`None` if it no longer exists).
    pub fn record(&mut self, id: u64) -> Result<Option<&BlobRecord>> {
        if self.record.as_ref().is_none_or(|(r, _)| *r != id) {
            self.record = None;
            let Some(v) = self.blobs.get(id)? else {
                return Ok(None);
            };
            self.record = Some((id, BlobRecord::decode(v.value())?));
        }
        Ok(self.record.as_ref().map(|(_, r)| r))
    }

    /// Appends bytes `[start, start + len)` of blob `id`, clipped to its size (nothing if the
    /// blob no longer exists).
    pub fn read_into(&mut self, id: u64, start: u64, len: u64, out: &mut Vec<u8>) -> Result<()> {
        let Some(rec) = self.record(id)? else {
            return Ok(());
        };
        let end = start.saturating_add(len).min(rec.size);
        let spans: Vec<(u32, u64, u64)> = rec
            .chunks_for(start, len)
            .into_iter()
            .map(|(i, at)| (i, at, u64::from(rec.chunks[i as usize])))
            .collect();
        for (idx, at, clen) in spans {
            let from = start.saturating_sub(at);
            let to = end.saturating_sub(at).min(clen);
            if from >= to {
                break;
            }
            if from == 0 && to == clen && self.cached != Some((id, idx)) {
                self.decode(id, idx, clen as usize, out)?;
                continue;
            }
            if self.cached != Some((id, idx)) {
                let mut cache = std::mem::take(&mut self.cache);
                cache.clear();
                self.cached = None;
                self.decode(id, idx, clen as usize, &mut cache)?;
                self.cache = cache;
                self.cached = Some((id, idx));
            }
            out.extend_from_slice(&self.cache[from as usize..to as usize]);
        }
        Ok(())
    }

    /// Appends the content of chunk `idx`, which must come to `len` octets.
    fn decode(&mut self, id: u64, idx: u32, len: usize, out: &mut Vec<u8>) -> Result<()> {
        let corrupt = || StoreError::Internal(format!("corrupt chunk {id}/{idx}"));
        let v = self.chunks.get((id, idx))?.ok_or_else(corrupt)?;
        let at = out.len();
        match v.value().split_first() {
            Some((&RAW, rest)) => out.extend_from_slice(rest),
            Some((&DEFLATE, rest)) => {
                out.resize(at + len, 0);
                let d = self.inflater.get_or_insert_with(Box::default);
                d.init();
                let (status, _, n) = decompress(
                    d,
                    rest,
                    &mut out[at..],
                    0,
                    TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF,
                );
                if status != TINFLStatus::Done || n != len {
                    return Err(corrupt());
                }
            }
            Some((&LZ4, rest)) => {
                out.resize(at + len, 0);
                let n = lz4_flex::block::decompress_into(rest, &mut out[at..]);
                if n.ok() != Some(len) {
                    out.truncate(at);
                    return Err(corrupt());
                }
            }
            Some((&BASE64, [line, crlf, data @ ..])) if *line > 0 && line.is_multiple_of(4) => {
                encode_lines(data, usize::from(*line), *crlf == 1, out);
            }
            _ => return Err(corrupt()),
        }
        if out.len() - at != len {
            out.truncate(at);
            return Err(corrupt());
        }
        Ok(())
    }
}

/// Bytes `[start, start + len)` of a blob, clipped to its size.
pub fn read_range(rtx: &ReadTransaction, id: u64, start: u64, len: u64) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    Reader::new(rtx)?.read_into(id, start, len, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `p` inserted into an in-memory database: the database, a snapshot and the blob id.
    fn stored(p: &Prepared) -> (redb::Database, redb::ReadTransaction, u64) {
        use redb::ReadableDatabase;
        let db = redb::Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .unwrap();
        let txn = db.begin_write().unwrap();
        let id = insert(&txn, p).unwrap();
        txn.commit().unwrap();
        let rtx = db.begin_read().unwrap();
        (db, rtx, id)
    }

    #[test]
    fn crlf_normalisation() {
        assert_eq!(
            normalize_crlf(b"a\nb\r\nc\rd".to_vec()),
            b"a\r\nb\r\nc\r\nd"
        );
        assert_eq!(normalize_crlf(b"ok\r\n".to_vec()), b"ok\r\n");
        assert_eq!(normalize_crlf(b"\n".to_vec()), b"\r\n");
    }

    #[test]
    fn prepare_compresses_text_and_keeps_random() {
        let text = b"Subject: x\r\n\r\n"
            .iter()
            .chain(b"hello world ".repeat(20_000).iter())
            .copied()
            .collect::<Vec<u8>>();
        let p = prepare(text.clone());
        assert_eq!(p.size, text.len() as u64);
        assert_eq!(
            p.lens.iter().map(|&n| n as usize).sum::<usize>(),
            text.len()
        );
        assert!(p.chunks.iter().all(|c| c.len() <= CHUNK));
        assert!(p.chunks.iter().all(|c| c[0] == LZ4));
        let mut x: u32 = 1;
        let random: Vec<u8> = (0..1000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .filter(|&b| b != b'\r' && b != b'\n')
            .collect();
        assert_eq!(prepare(random).chunks[0][0], RAW);
    }

    /// A message with a base64 attachment of `n` pseudo-random octets in lines of `line`.
    fn with_attachment(n: usize, line: usize, tail: &str) -> Vec<u8> {
        let mut x: u32 = 99;
        let data: Vec<u8> = (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        let mut b64 = Vec::new();
        encode_lines(&data, line, true, &mut b64);
        let mut m =
            b"Subject: a\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n".to_vec();
        m.extend(b"some text ".repeat(300));
        m.extend(b"\r\n--b\r\nContent-Type: application/pdf\r\n");
        m.extend(b"Content-Transfer-Encoding: base64\r\n\r\n");
        m.extend(&b64);
        m.extend(tail.as_bytes());
        m.extend(b"--b--\r\n");
        m
    }

    fn roundtrip(raw: &[u8]) -> Prepared {
        let p = prepare(raw.to_vec());
        assert_eq!(p.size, raw.len() as u64);
        assert_eq!(p.lens.iter().map(|&n| n as u64).sum::<u64>(), p.size);
        assert!(p.chunks.iter().all(|c| c.len() <= CHUNK));
        let (_db, rtx, id) = stored(&p);
        assert_eq!(read_range(&rtx, id, 0, p.size).unwrap(), raw);
        // Consecutive ranges through one reader, cut anywhere.
        let mut r = Reader::new(&rtx).unwrap();
        let mut got = Vec::new();
        let mut at = 0;
        for step in [1u64, 7, 4093, 65_536, 100_003].iter().cycle() {
            if at >= p.size {
                break;
            }
            r.read_into(id, at, *step, &mut got).unwrap();
            at += step;
        }
        assert_eq!(got, raw);
        p
    }

    #[test]
    fn base64_runs_are_stored_decoded_and_come_back_exact() {
        for (n, line, tail) in [
            (200_000, 76, ""),
            (200_001, 76, ""),
            (200_002, 64, "\r\n"),
            (5_000, 72, ""),
            (300_000, 76, "trailing junk\r\n"),
        ] {
            let raw = with_attachment(n, line, tail);
            let p = roundtrip(&raw);
            let decoded: usize = p
                .chunks
                .iter()
                .filter(|c| c[0] == BASE64)
                .map(|c| c.len() - 3)
                .sum();
            assert_eq!(decoded, n, "{n} {line}");
        }
    }

    #[test]
    fn irregular_base64_is_stored_as_received() {
        // Lines of two lengths: only the first run is decoded, the rest kept as it came.
        let mut raw = with_attachment(100_000, 76, "");
        let at = raw.len() / 2;
        let at = at + raw[at..].windows(2).position(|w| w == b"\r\n").unwrap() + 2;
        raw.insert(at + 10, b'\r');
        raw.insert(at + 11, b'\n');
        roundtrip(&raw);
        // Non-canonical padding bits, a lone line of a length not divisible by 4, bad chars.
        for body in [
            &b"QUJDRA==\r\n"[..],
            b"QUJDRB==\r\n",
            b"QUJDREVGR\r\n",
            b"QU*DREVG\r\n",
        ] {
            let mut m = b"Content-Transfer-Encoding: base64\r\n\r\n".to_vec();
            m.extend(body.repeat(400));
            roundtrip(&m);
        }
    }

    #[test]
    fn deflate_chunks_of_older_files_still_read() {
        let text = b"Subject: old\r\n\r\n".repeat(5000);
        let mut chunk = vec![DEFLATE];
        chunk.extend(miniz_oxide::deflate::compress_to_vec(&text, 1));
        let p = Prepared {
            size: text.len() as u64 + 1,
            chunks: vec![chunk, vec![RAW, b'!']],
            lens: vec![text.len() as u32, 1],
            meta: Vec::new(),
        };
        let (_db, rtx, id) = stored(&p);
        let mut want = text.clone();
        want.push(b'!');
        assert!(read_range(&rtx, id, 0, p.size).unwrap() == want);
        assert!(read_range(&rtx, id, 100, 50).unwrap() == want[100..150]);
    }

    #[test]
    fn ranges_across_variable_chunks() {
        // Text, then incompressible bytes, then text: chunks of several sizes and both kinds.
        let mut x: u32 = 7;
        let mut raw = b"Subject: t\r\n\r\n".to_vec();
        raw.extend(b"lorem ipsum dolor sit amet ".repeat(9000));
        raw.extend((0..150_000).map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x % 200) as u8 + 40
        }));
        raw.extend(b"the end of it all ".repeat(5000));
        let p = prepare(raw.clone());
        assert!(p.chunks.len() > 3);
        assert!(p.chunks.iter().any(|c| c[0] == RAW) && p.chunks.iter().any(|c| c[0] == LZ4));
        let (_db, rtx, id) = stored(&p);
        let n = raw.len() as u64;
        for (start, len) in [
            (0, n),
            (0, 10),
            (65_000, 140_000),
            (n - 5, 100),
            (n + 3, 5),
            (123_456, 1),
        ] {
            let got = read_range(&rtx, id, start, len).unwrap();
            let s = (start as usize).min(raw.len());
            let e = (start.saturating_add(len) as usize).min(raw.len());
            assert_eq!(got, &raw[s..e], "range {start}+{len}");
        }
    }
}

//! Message content: CRLF-normalised, split into 64 KiB chunks, each deflated when that saves at
//! least a tenth. Content is shared between messages by reference count (COPY never duplicates).

use redb::{ReadTransaction, ReadableTable, WriteTransaction};

use super::schema::{BLOBS, BlobRecord, CHUNK, CHUNKS};
use super::{Result, StoreError, next_counter};

/// Chunk encodings: the first byte of every stored chunk.
const RAW: u8 = 0;
const DEFLATE: u8 = 1;

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
    let needs = raw.iter().enumerate().any(|(i, &b)| {
        (b == b'\n' && (i == 0 || raw[i - 1] != b'\r'))
            || (b == b'\r' && raw.get(i + 1) != Some(&b'\n'))
    });
    if !needs {
        return raw;
    }
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 32);
    let mut i = 0;
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
    let raw = normalize_crlf(raw);
    let mut meta = Vec::new();
    crate::mime::analyze(&raw).encode(&mut meta);
    let (chunks, lens) = split(&raw);
    Prepared {
        size: raw.len() as u64,
        chunks,
        lens,
        meta,
    }
}

/// Cuts content into stored chunks of at most [`CHUNK`] octets. Compressible content is deflated
/// in pieces sized so each compressed piece nearly fills a chunk (redb rounds a large value up to
/// a power-of-two page, so a half-empty chunk would waste the difference); content that does not
/// shrink by a tenth is stored raw in full chunks.
fn split(raw: &[u8]) -> (Vec<Vec<u8>>, Vec<u32>) {
    const MAX_PIECE: usize = 1 << 20;
    let (mut chunks, mut lens) = (Vec::new(), Vec::new());
    let mut pos = 0;
    // Compressed size per raw octet seen so far (starts optimistic for text).
    let mut ratio = 0.5f64;
    while pos < raw.len() {
        let rest = raw.len() - pos;
        let mut take = ((CHUNK - 1) as f64 / ratio * 0.97) as usize;
        take = take.clamp(1, MAX_PIECE).min(rest);
        loop {
            let piece = &raw[pos..pos + take];
            let z = miniz_oxide::deflate::compress_to_vec(piece, 1);
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
                c.push(DEFLATE);
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
    (chunks, lens)
}

/// Stores prepared content with refcount 1; returns the blob id.
pub fn insert(txn: &WriteTransaction, p: &Prepared) -> Result<u64> {
    let id = next_counter(txn, "next_blob_id")?;
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
    txn.open_table(BLOBS)?.insert(id, rec.encode().as_slice())?;
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

/// Decoded chunk `idx` of a blob (empty if it no longer exists).
pub fn chunk(rtx: &ReadTransaction, id: u64, idx: u32) -> Result<Vec<u8>> {
    let chunks = rtx.open_table(CHUNKS)?;
    let Some(v) = chunks.get((id, idx))? else {
        return Ok(Vec::new());
    };
    let v = v.value();
    match v.split_first() {
        Some((&RAW, rest)) => Ok(rest.to_vec()),
        Some((&DEFLATE, rest)) => miniz_oxide::inflate::decompress_to_vec_with_limit(rest, 1 << 21)
            .map_err(|_| StoreError::Internal(format!("corrupt chunk {id}/{idx}"))),
        _ => Err(StoreError::Internal(format!("bad chunk {id}/{idx}"))),
    }
}

/// Bytes `[start, start + len)` of a blob, clipped to its size.
pub fn read_range(rtx: &ReadTransaction, id: u64, start: u64, len: u64) -> Result<Vec<u8>> {
    let Some(rec) = rtx
        .open_table(BLOBS)?
        .get(id)?
        .map(|v| BlobRecord::decode(v.value()))
        .transpose()?
    else {
        return Ok(Vec::new());
    };
    read_range_of(rtx, &rec, id, start, len)
}

/// [`read_range`] for a caller that already holds the blob's record.
pub fn read_range_of(
    rtx: &ReadTransaction,
    rec: &BlobRecord,
    id: u64,
    start: u64,
    len: u64,
) -> Result<Vec<u8>> {
    let end = start.saturating_add(len).min(rec.size);
    let mut out = Vec::with_capacity(end.saturating_sub(start).min(1 << 20) as usize);
    for (idx, at) in rec.chunks_for(start, len) {
        let c = chunk(rtx, id, idx)?;
        let from = start.saturating_sub(at) as usize;
        let to = ((end - at) as usize).min(c.len());
        if from >= to {
            break;
        }
        out.extend_from_slice(&c[from..to]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(p.chunks.iter().all(|c| c[0] == DEFLATE));
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

    #[test]
    fn ranges_across_variable_chunks() {
        use redb::ReadableDatabase;
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
        assert!(p.chunks.iter().any(|c| c[0] == RAW) && p.chunks.iter().any(|c| c[0] == DEFLATE));
        let db = redb::Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .unwrap();
        let txn = db.begin_write().unwrap();
        let id = insert(&txn, &p).unwrap();
        txn.commit().unwrap();
        let rtx = db.begin_read().unwrap();
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

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
    let chunks = raw
        .chunks(CHUNK)
        .map(|c| {
            let z = miniz_oxide::deflate::compress_to_vec(c, 1);
            let mut out = Vec::with_capacity(z.len().min(c.len()) + 1);
            if z.len() < c.len() - c.len() / 10 {
                out.push(DEFLATE);
                out.extend_from_slice(&z);
            } else {
                out.push(RAW);
                out.extend_from_slice(c);
            }
            out
        })
        .collect();
    Prepared {
        size: raw.len() as u64,
        chunks,
        meta,
    }
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
        Some((&DEFLATE, rest)) => miniz_oxide::inflate::decompress_to_vec_with_limit(rest, CHUNK)
            .map_err(|_| StoreError::Internal(format!("corrupt chunk {id}/{idx}"))),
        _ => Err(StoreError::Internal(format!("bad chunk {id}/{idx}"))),
    }
}

/// Bytes `[start, start + len)` of a blob, clipped to its size.
pub fn read_range(rtx: &ReadTransaction, id: u64, start: u64, len: u64) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(len.min(1 << 20) as usize);
    let end = start.saturating_add(len);
    let mut pos = start;
    while pos < end {
        let idx = (pos / CHUNK as u64) as u32;
        let c = chunk(rtx, id, idx)?;
        let off = (pos % CHUNK as u64) as usize;
        if off >= c.len() {
            break;
        }
        let take = ((end - pos) as usize).min(c.len() - off);
        out.extend_from_slice(&c[off..off + take]);
        pos += take as u64;
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
        assert_eq!(p.chunks.len(), text.len().div_ceil(CHUNK));
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
}

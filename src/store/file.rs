//! The database file under redb, with its unused tail written ahead.
//!
//! redb grows its file with `set_len`, which leaves a hole, and then places new pages (most of
//! them message content) in that hole. On ext4, and on most Linux file systems, the first write
//! into a hole allocates a disk block when it is written back, so the commit's `fdatasync` must
//! also commit the file system journal for the new extent: on the test VM that is ~100 us more
//! per delivery (64 KiB into written blocks synced in 128-193 us, into a hole 258-290 us;
//! `fallocate` is no better: its blocks are "unwritten" and converting them is a journal commit
//! too). Only blocks that have been written once avoid it.
//!
//! [`DataFile`] therefore writes zeros a little ahead of redb: whenever redb writes past what has
//! been written so far, the gap up to its write and [`AHEAD`] bytes after it are zero-filled
//! first (never past the file's end). The zeros reach the disk with the commit's own
//! `fdatasync`, so one journal commit covers the next megabyte instead of each delivery paying
//! one. On an SD card this writes the tail twice (zeros, then data), but sequentially and in large
//! runs, where each avoided journal commit would have written several scattered blocks.
//!
//! Invariant: redb has written nothing at or above `filled`. Below it every byte is either
//! redb's or our zeros (or, after a jump over more than [`MAX_GAP`], a hole left alone); above
//! it every byte is a hole, which reads as zero, so filling it with zeros changes no content.
//! Everything else (locks, reads, syncs) is redb's own [`FileBackend`].

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Mutex;

use redb::backends::FileBackend;
use redb::{BackendError, StorageBackend};
use std::ops::Bound;

// redb 4 backends report `std::io::Error` (`BackendError` only with experimental-api-5).
type IoResult<T> = Result<T, std::io::Error>;

/// Zero-filled ahead of the highest write.
const AHEAD: u64 = 1 << 20;
/// A write further than this past `filled` (a page placed far up a new region) does not fill the
/// gap below it: that would stall a commit on megabytes of zeros.
const MAX_GAP: u64 = 4 << 20;
const ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];

#[derive(Debug)]
pub struct DataFile {
    inner: FileBackend,
    /// The same open file (a duplicate descriptor) for the zero-filling writes.
    file: File,
    tail: Mutex<Tail>,
}

#[derive(Debug)]
struct Tail {
    len: u64,
    /// Everything redb wrote lies below this offset.
    filled: u64,
}

impl DataFile {
    pub fn new(file: File) -> Result<DataFile, redb::DatabaseError> {
        let len = file.metadata()?.len();
        let filled = written_end(&file, len);
        let own = file.try_clone()?;
        Ok(DataFile {
            inner: FileBackend::new(file)?,
            file: own,
            tail: Mutex::new(Tail { len, filled }),
        })
    }

    fn zero(&self, from: u64, to: u64) -> std::io::Result<()> {
        let mut at = from;
        while at < to {
            let n = (to - at).min(ZEROS.len() as u64) as usize;
            self.file.write_all_at(&ZEROS[..n], at)?;
            at += n as u64;
        }
        Ok(())
    }
}

/// The end of the last written extent of `file` (SEEK_DATA/SEEK_HOLE); `len` where the file
/// system cannot tell (it then reports the whole file as data), so nothing is filled until the
/// file grows.
fn written_end(file: &File, len: u64) -> u64 {
    use rustix::fs::{SeekFrom, seek};
    let mut end = 0;
    let mut pos = 0;
    while pos < len {
        let Ok(data) = seek(file, SeekFrom::Data(pos)) else {
            break; // ENXIO: no data at or after pos
        };
        match seek(file, SeekFrom::Hole(data)) {
            Ok(hole) if hole > data => {
                end = hole;
                pos = hole;
            }
            _ => return len,
        }
    }
    end.min(len)
}

impl StorageBackend for DataFile {
    fn len(&self) -> IoResult<u64> {
        self.inner.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> IoResult<()> {
        self.inner.read(offset, out)
    }

    fn set_len(&self, len: u64) -> IoResult<()> {
        let mut tail = self.tail.lock().unwrap_or_else(|p| p.into_inner());
        self.inner.set_len(len)?;
        tail.len = len;
        tail.filled = tail.filled.min(len);
        Ok(())
    }

    fn sync_data(&self) -> IoResult<()> {
        self.inner.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> IoResult<()> {
        let end = offset + data.len() as u64;
        {
            let mut tail = self.tail.lock().unwrap_or_else(|p| p.into_inner());
            if end > tail.filled {
                if offset > tail.filled && offset - tail.filled <= MAX_GAP {
                    self.zero(tail.filled, offset)?;
                }
                let ahead = (end + AHEAD).min(tail.len).max(end);
                self.zero(end, ahead)?;
                // Raised only once the zeros are written: a write below it, which does not
                // zero-fill, can never be overwritten by them.
                tail.filled = ahead;
            }
        }
        self.inner.write(offset, data)
    }

    fn close(&self) -> IoResult<()> {
        self.inner.close()
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_range(start, end)
    }

    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.inner.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.query_lock_range(start, end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::fs::{SeekFrom, seek};

    fn temp(name: &str) -> (std::path::PathBuf, File) {
        let dir = std::env::temp_dir().join(format!("postfach-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        let _ = std::fs::remove_file(&path);
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .unwrap();
        (path, f)
    }

    /// Whether the file system reports holes (tmpfs, ext4, xfs, btrfs do).
    fn has_holes(f: &File) -> bool {
        seek(f, SeekFrom::Data(0)).is_err()
    }

    fn is_hole(f: &File, at: u64) -> bool {
        seek(f, SeekFrom::Hole(at)).unwrap() == at
    }

    /// Writes past the written end zero-fill the gap and [`AHEAD`] after them, never past the
    /// file's end and never over the gap of a far jump; every byte written reads back, and a
    /// reopened file knows where its written part ends.
    #[test]
    fn the_tail_is_written_ahead_of_redb() {
        let (path, f) = temp("ahead");
        let probe = f.try_clone().unwrap();
        let df = DataFile::new(f).unwrap();
        let mib = 1u64 << 20;
        df.set_len(16 * mib).unwrap();
        let holes = has_holes(&probe);
        df.write(0, &[1; 4096]).unwrap();
        df.write(2 * mib, &[2; 4096]).unwrap();
        // Past MAX_GAP beyond the filled end (3 MiB + 4 KiB): the gap below stays a hole.
        let far = 3 * mib + 4096 + MAX_GAP + 4096;
        df.write(far, &[3; 4096]).unwrap();
        // Near the end: the zeros stop at the file's end.
        df.write(16 * mib - 8192, &[4; 4096]).unwrap();
        assert_eq!(df.len().unwrap(), 16 * mib);
        for (at, b) in [(0, 1), (2 * mib, 2), (far, 3), (16 * mib - 8192, 4)] {
            let mut buf = [0u8; 4096];
            df.read(at, &mut buf).unwrap();
            assert!(buf.iter().all(|&x| x == b), "content at {at}");
        }
        let mut buf = vec![9u8; 8192];
        df.read(2 * mib - 8192, &mut buf).unwrap();
        assert!(buf.iter().all(|&x| x == 0));
        if holes {
            assert!(!is_hole(&probe, 4096), "gap to the next write filled");
            assert!(
                !is_hole(&probe, 2 * mib + 4096 + AHEAD - 4096),
                "filled ahead"
            );
            assert!(is_hole(&probe, 3 * mib + 4096 + 4096), "far gap left alone");
            assert_eq!(written_end(&probe, 16 * mib), 16 * mib);
        }
        // Shrinking clamps the filled end; growing again leaves the new part to be filled.
        df.set_len(4 * mib).unwrap();
        df.set_len(8 * mib).unwrap();
        df.write(4 * mib, &[5; 4096]).unwrap();
        if holes {
            assert!(!is_hole(&probe, 4 * mib + 4096));
            assert!(is_hole(&probe, 4 * mib + 4096 + AHEAD));
            // A reopened file starts filling where its written part ends.
            let f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .unwrap();
            assert_eq!(written_end(&f, 8 * mib), 4 * mib + 4096 + AHEAD);
        }
        let mut buf = [0u8; 4096];
        df.read(0, &mut buf).unwrap();
        assert_eq!(buf, [1; 4096]);
        df.close().unwrap();
        let _ = std::fs::remove_file(&path);
    }
}

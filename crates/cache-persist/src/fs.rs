//! File I/O behind a small trait, so tests can make the disk fail.
//!
//! Everything cache-persist does to files goes through [`Fs`]: the node uses [`RealFs`];
//! tests use [`FaultyFs`], which can run out of space part-way through a write (a short write,
//! then `ENOSPC`) or fail `fsync`, to check that an error is reported, reads go on and nothing
//! already durable is damaged.

use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Arc;

use parking_lot::Mutex;

/// The file operations persistence needs.
pub trait Fs: Send + Sync + Debug {
    /// Creates `path` (truncating it if it exists) for writing.
    fn create(&self, path: &Path) -> io::Result<Box<dyn WriteFile>>;
    /// Opens an existing `path` for writing at its end.
    fn append(&self, path: &Path) -> io::Result<Box<dyn WriteFile>>;
    /// Opens `path` for reading; returns the reader and the file's length.
    fn open(&self, path: &Path) -> io::Result<(Box<dyn Read + Send>, u64)>;
    /// Opens `path` for reads at any offset, from any thread.
    fn open_read_at(&self, path: &Path) -> io::Result<Arc<dyn ReadAt>>;
    /// Renames `from` to `to`, replacing `to`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Makes the directory's entries (creations, renames, removals) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// The names of the files in `dir`.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
}

/// A file being written.
pub trait WriteFile: Send + Debug {
    /// Writes some of `buf`, returning how much (a short write is not an error).
    fn write(&mut self, buf: &[u8]) -> io::Result<usize>;
    /// Makes what was written durable (`fdatasync`).
    fn sync(&mut self) -> io::Result<()>;
    /// Cuts the file to `len` bytes and continues writing there.
    fn truncate(&mut self, len: u64) -> io::Result<()>;
    /// A second handle that fsyncs the same file from another thread, so writes go on
    /// while an `everysec` fsync runs.
    fn syncer(&self) -> io::Result<Box<dyn Syncer>>;
}

/// A file read at offsets (`pread`), shared between threads.
pub trait ReadAt: Send + Sync + Debug {
    /// Fills `buf` from `offset`; fails if the file ends first.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
}

impl ReadAt for File {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(self, buf, offset)
    }
}

/// Fsyncs a file from another thread.
pub trait Syncer: Send + Debug {
    fn sync(&mut self) -> io::Result<()>;
}

impl Syncer for RealFile {
    fn sync(&mut self) -> io::Result<()> {
        self.0.sync_data()
    }
}

impl Syncer for FaultyFile {
    fn sync(&mut self) -> io::Result<()> {
        WriteFile::sync(self)
    }
}

/// Writes all of `buf`, retrying short writes; an error leaves an unknown prefix written.
pub fn write_all(file: &mut dyn WriteFile, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match file.write(buf) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "wrote 0 bytes")),
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealFs;

#[derive(Debug)]
struct RealFile(File);

impl WriteFile for RealFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn sync(&mut self) -> io::Result<()> {
        self.0.sync_data()
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.0.set_len(len)?;
        self.0.seek(SeekFrom::Start(len)).map(|_| ())
    }

    fn syncer(&self) -> io::Result<Box<dyn Syncer>> {
        Ok(Box::new(RealFile(self.0.try_clone()?)))
    }
}

impl Fs for RealFs {
    fn create(&self, path: &Path) -> io::Result<Box<dyn WriteFile>> {
        Ok(Box::new(RealFile(File::create(path)?)))
    }

    fn append(&self, path: &Path) -> io::Result<Box<dyn WriteFile>> {
        let mut file = OpenOptions::new().write(true).open(path)?;
        file.seek(SeekFrom::End(0))?;
        Ok(Box::new(RealFile(file)))
    }

    fn open(&self, path: &Path) -> io::Result<(Box<dyn Read + Send>, u64)> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        Ok((Box::new(file), len))
    }

    fn open_read_at(&self, path: &Path) -> io::Result<Arc<dyn ReadAt>> {
        Ok(Arc::new(File::open(path)?))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            if let Ok(name) = entry?.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(names)
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }
}

/// The faults a [`FaultyFs`] injects, changeable while it is in use.
#[derive(Debug, Default)]
struct Faults {
    /// Bytes that may still be written before the disk is "full"; `None` = unlimited. A write
    /// crossing the limit is cut short, and the next one fails with `ENOSPC`.
    space: Option<u64>,
    /// `fsync` fails with `EIO`.
    fail_sync: bool,
    /// Writes to files whose name starts with this fail with `EIO`.
    failing_writes: Option<&'static str>,
}

/// The real file system with faults injected on demand (for tests).
#[derive(Debug, Clone, Default)]
pub struct FaultyFs {
    faults: Arc<Mutex<Faults>>,
}

impl FaultyFs {
    pub fn new() -> FaultyFs {
        FaultyFs::default()
    }

    /// From now on, only `bytes` more bytes fit on the disk.
    pub fn disk_full_after(&self, bytes: u64) {
        self.faults.lock().space = Some(bytes);
    }

    /// Makes every `fsync` fail (or succeed again).
    pub fn fail_sync(&self, fail: bool) {
        self.faults.lock().fail_sync = fail;
    }

    /// Makes every write to a file whose name starts with `prefix` (`log.`, `snapshot.`,
    /// `segment.`) fail with `EIO`, whether the file was opened before or after.
    pub fn fail_writes_to(&self, prefix: &'static str) {
        self.faults.lock().failing_writes = Some(prefix);
    }

    /// Removes every fault.
    pub fn heal(&self) {
        *self.faults.lock() = Faults::default();
    }

    fn file(&self, path: &Path, file: File) -> Box<dyn WriteFile> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Box::new(FaultyFile {
            inner: RealFile(file),
            name,
            faults: self.faults.clone(),
        })
    }
}

#[derive(Debug)]
struct FaultyFile {
    inner: RealFile,
    /// The file's name, for [`FaultyFs::fail_writes_to`].
    name: String,
    faults: Arc<Mutex<Faults>>,
}

impl WriteFile for FaultyFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut faults = self.faults.lock();
        if faults
            .failing_writes
            .is_some_and(|prefix| self.name.starts_with(prefix))
        {
            return Err(io::Error::from_raw_os_error(5)); // EIO
        }
        let allowed = match faults.space {
            Some(0) => return Err(io::Error::from_raw_os_error(28)), // ENOSPC
            Some(space) => buf.len().min(usize::try_from(space).unwrap_or(usize::MAX)),
            None => buf.len(),
        };
        let written = self.inner.write(&buf[..allowed])?;
        if let Some(space) = faults.space.as_mut() {
            *space -= written as u64;
        }
        Ok(written)
    }

    fn sync(&mut self) -> io::Result<()> {
        if self.faults.lock().fail_sync {
            return Err(io::Error::from_raw_os_error(5)); // EIO
        }
        WriteFile::sync(&mut self.inner)
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.inner.truncate(len)
    }

    fn syncer(&self) -> io::Result<Box<dyn Syncer>> {
        Ok(Box::new(FaultyFile {
            inner: RealFile(self.inner.0.try_clone()?),
            name: self.name.clone(),
            faults: self.faults.clone(),
        }))
    }
}

impl Fs for FaultyFs {
    fn create(&self, path: &Path) -> io::Result<Box<dyn WriteFile>> {
        Ok(self.file(path, File::create(path)?))
    }

    fn append(&self, path: &Path) -> io::Result<Box<dyn WriteFile>> {
        let mut file = OpenOptions::new().write(true).open(path)?;
        file.seek(SeekFrom::End(0))?;
        Ok(self.file(path, file))
    }

    fn open(&self, path: &Path) -> io::Result<(Box<dyn Read + Send>, u64)> {
        RealFs.open(path)
    }

    fn open_read_at(&self, path: &Path) -> io::Result<Arc<dyn ReadAt>> {
        RealFs.open_read_at(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        RealFs.rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        RealFs.remove(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        if self.faults.lock().fail_sync {
            return Err(io::Error::from_raw_os_error(5));
        }
        RealFs.sync_dir(dir)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        RealFs.list(dir)
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        RealFs.create_dir_all(dir)
    }
}

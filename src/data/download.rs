//! `dynunc data download`: fetches a dataset's official files (with `curl` or `wget`), checks
//! each against its published MD5 and unpacks it where `data.path` can point. Nothing else in
//! dynunc touches the network; `--from` takes files downloaded by hand instead.

use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use thiserror::Error;

/// One file of a dataset as its authors publish it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Remote {
    /// Where it is published.
    pub url: &'static str,
    /// Its published MD5, lower-case hex.
    pub md5: &'static str,
}

impl Remote {
    /// The file's name (the URL's last segment).
    pub fn file_name(&self) -> &'static str {
        self.url.rsplit('/').next().unwrap_or(self.url)
    }
}

/// How a dataset's files become the folder `data.path` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unpack {
    /// The files are used as they are, in the target folder.
    Keep,
    /// One `.tar.gz` whose regular files under `folder/` are extracted (that folder is
    /// `data.path`).
    TarGz {
        /// The archive's top folder.
        folder: &'static str,
    },
}

/// A dataset that `dynunc data download` can fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Download {
    /// The files, with their checksums.
    pub files: &'static [Remote],
    /// What becomes of them.
    pub unpack: Unpack,
    /// Where the authors publish it (for a download by hand).
    pub page: &'static str,
}

/// Why a download, check or extraction failed.
#[derive(Debug, Error)]
pub enum DownloadError {
    /// Reading or writing a file failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A file is not the published one.
    #[error(
        "{path}: MD5 {got}, but the published file's is {want}; it is damaged or another file: delete it and download again ({url})"
    )]
    Checksum {
        /// The file.
        path: String,
        /// What it has.
        got: String,
        /// What it should have.
        want: String,
        /// Where the published file is.
        url: String,
    },
    /// Neither curl nor wget ran, or the transfer failed.
    #[error(
        "downloading {url} failed ({why}); without network access download it by hand from {page} and run `dynunc data download {name} --from FILE --to DIR`"
    )]
    Fetch {
        /// The dataset.
        name: String,
        /// What was fetched.
        url: String,
        /// The authors' page.
        page: String,
        /// What went wrong.
        why: String,
    },
    /// The archive is not the tar.gz it should be.
    #[error("{path}: {why}; delete it and download again")]
    Archive {
        /// The archive.
        path: String,
        /// What is wrong.
        why: String,
    },
}

/// MD5 (RFC 1321) of everything read from `r`, as lower-case hex.
pub fn md5_hex(mut r: impl Read) -> std::io::Result<String> {
    let mut md5 = Md5::default();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        md5.update(&buf[..n]);
    }
    Ok(md5.finish().iter().map(|b| format!("{b:02x}")).collect())
}

/// MD5's running state.
struct Md5 {
    state: [u32; 4],
    pending: Vec<u8>,
    bytes: u64,
}

impl Default for Md5 {
    fn default() -> Self {
        Self {
            state: [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476],
            pending: Vec::with_capacity(64),
            bytes: 0,
        }
    }
}

impl Md5 {
    fn update(&mut self, mut data: &[u8]) {
        self.bytes += data.len() as u64;
        if !self.pending.is_empty() {
            let take = (64 - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.pending.len() == 64 {
                let block: [u8; 64] = self.pending[..].try_into().unwrap_or([0; 64]);
                self.block(&block);
                self.pending.clear();
            }
        }
        let mut chunks = data.chunks_exact(64);
        for chunk in &mut chunks {
            let block: [u8; 64] = chunk.try_into().unwrap_or([0; 64]);
            self.block(&block);
        }
        self.pending.extend_from_slice(chunks.remainder());
    }

    fn finish(mut self) -> [u8; 16] {
        let bits = self.bytes.wrapping_mul(8);
        let mut tail = vec![0x80u8];
        while (self.pending.len() + tail.len()) % 64 != 56 {
            tail.push(0);
        }
        tail.extend_from_slice(&bits.to_le_bytes());
        let bytes = self.bytes;
        self.update(&tail);
        self.bytes = bytes;
        let mut out = [0u8; 16];
        for (o, s) in out.chunks_exact_mut(4).zip(self.state) {
            o.copy_from_slice(&s.to_le_bytes());
        }
        out
    }

    fn block(&mut self, block: &[u8; 64]) {
        const SHIFTS: [u32; 16] = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
        let m: Vec<u32> = block
            .chunks_exact(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect();
        let [mut a, mut b, mut c, mut d] = self.state;
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            // K[i] = floor(|sin(i + 1)| x 2^32), as RFC 1321 defines it
            let k = (((i + 1) as f64).sin().abs() * 4_294_967_296.0) as u32;
            let f = f.wrapping_add(a).wrapping_add(k).wrapping_add(m[g]);
            (a, d, c) = (d, c, b);
            b = b.wrapping_add(f.rotate_left(SHIFTS[(i / 16) * 4 + i % 4]));
        }
        for (s, v) in self.state.iter_mut().zip([a, b, c, d]) {
            *s = s.wrapping_add(v);
        }
    }
}

/// Checks `path` against the published `remote`.
pub fn verify(path: &Path, remote: &Remote) -> Result<(), DownloadError> {
    let file = std::fs::File::open(path).map_err(|e| crate::atomic::context("opening", path, e))?;
    let got = md5_hex(std::io::BufReader::new(file))?;
    if got != remote.md5 {
        return Err(DownloadError::Checksum {
            path: path.display().to_string(),
            got,
            want: remote.md5.into(),
            url: remote.url.into(),
        });
    }
    Ok(())
}

/// Fetches `remote` to `to` with curl or wget (to a `.part` file renamed when complete).
fn fetch(name: &str, remote: &Remote, page: &str, to: &Path) -> Result<(), DownloadError> {
    let part = to.with_extension("part");
    let fail = |why: String| DownloadError::Fetch {
        name: name.into(),
        url: remote.url.into(),
        page: page.into(),
        why,
    };
    let attempts = [
        ("curl", vec!["-fL", "--retry", "2", "-o"]),
        ("wget", vec!["-q", "-O"]),
    ];
    let mut why = Vec::new();
    for (tool, args) in attempts {
        eprintln!("{name}: downloading {} with {tool}", remote.url);
        match Command::new(tool)
            .args(&args)
            .arg(&part)
            .arg(remote.url)
            .status()
        {
            Ok(s) if s.success() => {
                std::fs::rename(&part, to)
                    .map_err(|e| crate::atomic::context("renaming", &part, e))?;
                return Ok(());
            }
            Ok(s) => why.push(format!("{tool} exited with {s}")),
            Err(e) => why.push(format!("{tool}: {e}")),
        }
    }
    let _ = std::fs::remove_file(&part);
    Err(fail(why.join("; ")))
}

/// Extracts the regular files under `folder/` of the tar.gz at `archive` into `to`; returns
/// how many. Paths that would leave `to` are refused.
pub fn extract_tar_gz(archive: &Path, folder: &str, to: &Path) -> Result<usize, DownloadError> {
    let bad = |why: String| DownloadError::Archive {
        path: archive.display().to_string(),
        why,
    };
    let file =
        std::fs::File::open(archive).map_err(|e| crate::atomic::context("opening", archive, e))?;
    let mut tar = flate2::read::GzDecoder::new(std::io::BufReader::new(file));
    let mut extracted = 0;
    let mut long_name: Option<String> = None;
    loop {
        let mut header = [0u8; 512];
        if let Err(e) = tar.read_exact(&mut header) {
            return Err(bad(format!("ends inside a header ({e})")));
        }
        if header.iter().all(|&b| b == 0) {
            return Ok(extracted);
        }
        let field = |r: std::ops::Range<usize>| {
            let raw = &header[r];
            let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
            String::from_utf8_lossy(&raw[..end]).into_owned()
        };
        let size_text = field(124..136);
        let size = u64::from_str_radix(size_text.trim(), 8)
            .map_err(|_| bad(format!("size field `{}` is not octal", size_text.trim())))?;
        let mut data = Vec::new();
        (&mut tar)
            .take(size.div_ceil(512) * 512)
            .read_to_end(&mut data)?;
        if (data.len() as u64) < size {
            return Err(bad("ends inside a member".into()));
        }
        data.truncate(size as usize);
        let mut name = field(0..100);
        if &header[257..262] == b"ustar" && !field(345..500).is_empty() {
            name = format!("{}/{name}", field(345..500));
        }
        if let Some(long) = long_name.take() {
            name = long;
        }
        match header[156] {
            b'L' => long_name = Some(String::from_utf8_lossy(&data).trim_end_matches('\0').into()),
            b'0' | 0 if name.starts_with(&format!("{folder}/")) => {
                let rel = Path::new(&name);
                if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
                    return Err(bad(format!("member `{name}` leaves the folder")));
                }
                let out = to.join(rel);
                if let Some(parent) = out.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| crate::atomic::context("creating", parent, e))?;
                }
                crate::atomic::write(&out, &data)?;
                extracted += 1;
            }
            _ => {}
        }
    }
}

/// Downloads (or takes from `from`: the archive, or the folder holding the files) the
/// dataset `name` described by `d`, checks every file and unpacks it under `to`; returns the
/// folder to give as `data.path`.
pub fn install(
    name: &str,
    d: &Download,
    to: &Path,
    from: Option<&Path>,
) -> Result<PathBuf, DownloadError> {
    std::fs::create_dir_all(to).map_err(|e| crate::atomic::context("creating", to, e))?;
    let mut local = Vec::new();
    for remote in d.files {
        let path = match from {
            Some(f) if f.is_dir() => f.join(remote.file_name()),
            Some(f) => f.to_path_buf(),
            None => {
                let path = to.join(remote.file_name());
                if !path.is_file() {
                    fetch(name, remote, d.page, &path)?;
                }
                path
            }
        };
        verify(&path, remote)?;
        eprintln!(
            "{name}: {} matches the published MD5 {}",
            path.display(),
            remote.md5
        );
        local.push(path);
    }
    match d.unpack {
        Unpack::Keep => {
            for path in &local {
                let target = to.join(path.file_name().unwrap_or_default());
                if *path != target {
                    std::fs::copy(path, &target)
                        .map_err(|e| crate::atomic::context("copying to", &target, e))?;
                }
            }
            Ok(to.to_path_buf())
        }
        Unpack::TarGz { folder } => {
            let mut n = 0;
            for path in &local {
                n += extract_tar_gz(path, folder, to)?;
            }
            eprintln!(
                "{name}: extracted {n} files into {}",
                to.join(folder).display()
            );
            Ok(to.join(folder))
        }
    }
}

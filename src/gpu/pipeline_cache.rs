//! The pipeline cache on disk: compiled pipelines kept between runs of a program, so that a
//! second process on the same adapter starts warm (wgpu's `PipelineCache`, Vulkan only).
//!
//! Where: `WGPU_RNN_PIPELINE_CACHE` (or [`CacheSetting`] in `GpuOptions`): `off` (or `0`) for
//! none, a directory to keep it in, or unset for the platform's cache directory
//! (`$XDG_CACHE_HOME/wgpu-rnn` or `~/.cache/wgpu-rnn` on Linux, `~/Library/Caches/wgpu-rnn` on
//! macOS, `%LOCALAPPDATA%\wgpu-rnn` on Windows). One file per adapter class, named by
//! `wgpu::util::pipeline_cache_key`.
//!
//! The file is a header and wgpu's data: the magic `WGPURNN1`, the adapter key's FNV-1a hash,
//! the data's length and its FNV-1a hash. A file whose header does not match (another adapter,
//! truncated, corrupt) is ignored with a warning on stderr, never an error: the engine starts
//! cold and writes a good file when it is dropped.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// Where the pipeline cache lives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CacheSetting {
    /// The platform's cache directory (`WGPU_RNN_PIPELINE_CACHE` unset).
    #[default]
    Default,
    /// No pipeline cache (`WGPU_RNN_PIPELINE_CACHE=off`).
    Off,
    /// In this directory (`WGPU_RNN_PIPELINE_CACHE=DIR`).
    Dir(PathBuf),
}

impl CacheSetting {
    /// `off`, `0`, `false` or `none`: off; `auto`, `default` or empty: the default; anything
    /// else: a directory.
    pub fn parse(s: &str) -> CacheSetting {
        match s.trim() {
            "" | "auto" | "default" => CacheSetting::Default,
            v if ["off", "0", "false", "none"].iter().any(|o| v.eq_ignore_ascii_case(o)) => CacheSetting::Off,
            dir => CacheSetting::Dir(PathBuf::from(dir)),
        }
    }

    /// The directory the setting names, if any.
    fn dir(&self) -> Option<PathBuf> {
        match self {
            CacheSetting::Off => None,
            CacheSetting::Dir(d) => Some(d.clone()),
            CacheSetting::Default => platform_cache_dir().map(|d| d.join("wgpu-rnn")),
        }
    }
}

/// The platform's per-user cache directory.
fn platform_cache_dir() -> Option<PathBuf> {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    if cfg!(target_os = "windows") {
        var("LOCALAPPDATA")
    } else if cfg!(target_os = "macos") {
        var("HOME").map(|h| h.join("Library/Caches"))
    } else {
        var("XDG_CACHE_HOME").or_else(|| var("HOME").map(|h| h.join(".cache")))
    }
}

const MAGIC: &[u8; 8] = b"WGPURNN1";
const HEADER: usize = 8 + 3 * 8;

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

/// A device's pipeline cache and the file it came from and goes back to.
pub struct CacheFile {
    pub cache: wgpu::PipelineCache,
    path: PathBuf,
    key: String,
    /// Whether pipelines were compiled since the file was read (it is written only then).
    dirty: AtomicBool,
}

impl CacheFile {
    /// The cache of `device` (which must have `PIPELINE_CACHE`) for `info`'s adapter, from its
    /// file when there is a good one. `None` when the setting is off, the backend keeps no
    /// cache, or no directory is known.
    pub fn open(device: &wgpu::Device, info: &wgpu::AdapterInfo, setting: &CacheSetting) -> Option<CacheFile> {
        if !device.features().contains(wgpu::Features::PIPELINE_CACHE) {
            return None;
        }
        let key = wgpu::util::pipeline_cache_key(info)?;
        let path = setting.dir()?.join(&key);
        let data = match std::fs::read(&path) {
            Ok(bytes) => match unwrap(&bytes, &key) {
                Ok(data) => Some(data.to_vec()),
                Err(why) => {
                    eprintln!("wgpu-rnn: ignoring the pipeline cache {}: {why}", path.display());
                    None
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                eprintln!("wgpu-rnn: ignoring the pipeline cache {}: {e}", path.display());
                None
            }
        };
        // SAFETY: `data` is exactly what `PipelineCache::get_data` gave a device with the same
        // `pipeline_cache_key` (the header checks the key and the data's hash); `fallback`
        // makes wgpu start empty if the driver rejects it anyway.
        let cache = unsafe {
            device.create_pipeline_cache(&wgpu::PipelineCacheDescriptor {
                label: Some("wgpu-rnn.pipeline_cache"),
                data: data.as_deref(),
                fallback: true,
            })
        };
        Some(CacheFile { cache, path, key, dirty: AtomicBool::new(false) })
    }

    /// Notes that a pipeline was compiled through the cache.
    pub fn touch(&self) {
        self.dirty.store(true, Ordering::Relaxed);
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the cache back if pipelines were compiled since it was read: a temporary file
    /// renamed over the old one, so a reader never sees half a file.
    pub fn save(&self) -> std::io::Result<()> {
        if !self.dirty.swap(false, Ordering::Relaxed) {
            return Ok(());
        }
        let Some(data) = self.cache.get_data() else { return Ok(()) };
        let mut bytes = Vec::with_capacity(HEADER + data.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&fnv1a(self.key.as_bytes()).to_le_bytes());
        bytes.extend_from_slice(&(data.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&fnv1a(&data).to_le_bytes());
        bytes.extend_from_slice(&data);
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = self.path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, &bytes)?;
        std::fs::rename(&tmp, &self.path)
    }
}

impl Drop for CacheFile {
    fn drop(&mut self) {
        if let Err(e) = self.save() {
            eprintln!("wgpu-rnn: could not write the pipeline cache {}: {e}", self.path.display());
        }
    }
}

/// wgpu's data inside a cache file, if the header is good for `key`.
fn unwrap<'a>(bytes: &'a [u8], key: &str) -> Result<&'a [u8], String> {
    if bytes.len() < HEADER || &bytes[..8] != MAGIC {
        return Err("not a wgpu-rnn pipeline cache".into());
    }
    let word = |i: usize| u64::from_le_bytes(bytes[8 + 8 * i..16 + 8 * i].try_into().expect("8 bytes"));
    if word(0) != fnv1a(key.as_bytes()) {
        return Err("made for another adapter".into());
    }
    let data = &bytes[HEADER..];
    if word(1) != data.len() as u64 {
        return Err(format!("{} bytes of data where the header says {}", data.len(), word(1)));
    }
    if word(2) != fnv1a(data) {
        return Err("the data does not match its checksum (corrupt)".into());
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrapped(key: &str, data: &[u8]) -> Vec<u8> {
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(&fnv1a(key.as_bytes()).to_le_bytes());
        b.extend_from_slice(&(data.len() as u64).to_le_bytes());
        b.extend_from_slice(&fnv1a(data).to_le_bytes());
        b.extend_from_slice(data);
        b
    }

    #[test]
    fn a_cache_file_is_read_only_when_its_header_matches() {
        let good = wrapped("k", b"pipelines");
        assert_eq!(unwrap(&good, "k").unwrap(), b"pipelines");
        assert!(unwrap(&good, "other").unwrap_err().contains("another adapter"));
        assert!(unwrap(&good[..good.len() - 1], "k").unwrap_err().contains("header says"));
        let mut flipped = good.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(unwrap(&flipped, "k").unwrap_err().contains("corrupt"));
        assert!(unwrap(b"garbage", "k").unwrap_err().contains("not a wgpu-rnn"));
        assert!(unwrap(&[], "k").is_err());
    }

    #[test]
    fn settings_parse() {
        assert_eq!(CacheSetting::parse("off"), CacheSetting::Off);
        assert_eq!(CacheSetting::parse("0"), CacheSetting::Off);
        assert_eq!(CacheSetting::parse(" "), CacheSetting::Default);
        assert_eq!(CacheSetting::parse("/tmp/x"), CacheSetting::Dir("/tmp/x".into()));
        assert_eq!(CacheSetting::Off.dir(), None);
    }
}

//! The compiled-kernel cache: in memory by the kernel's normalized structure (two kernels that
//! differ only in names and value numbering compile once), and on disk by the rendered source,
//! the NVRTC options and the NVRTC version, so a new process skips NVRTC too.
//!
//! The disk cache lives in `$EMBER_CACHE_DIR/cuda` when `EMBER_CACHE_DIR` is set, else
//! `$XDG_CACHE_HOME/ember/cuda`, else `~/.cache/ember/cuda`. Each entry is two files named by
//! a 64-bit hash: `<hash>.cu` (the options line and the source, compared in full on a hit, so
//! a hash collision can never return the wrong kernel) and `<hash>.ptx` or `<hash>.cubin`.
//! [`Cache::clear`] (and [`super::clear_cache`]) empties both levels; deleting the directory
//! by hand is fine too. Disk failures are not errors: the cache then works in memory only.

use super::nvrtc::{self, Compiled, Image, Options};
use super::render::{render_kernel, Rendered};
use crate::error::Result;
use ember_ir::kernel::Kernel;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A kernel compiled by NVRTC.
#[derive(Debug)]
pub struct CompiledKernel {
    /// The kernel as first compiled (its name is only for messages).
    pub kernel: Kernel,
    /// The CUDA C source and launch plan.
    pub rendered: Rendered,
    /// The options used.
    pub options: Options,
    /// The PTX or CUBIN.
    pub image: Image,
    /// NVRTC's time (zero when the image came from the disk cache).
    pub compile_time: Duration,
    /// True when the image was read from the disk cache.
    pub from_disk: bool,
    /// NVRTC's log (warnings); empty when the image came from the disk cache.
    pub log: String,
}

/// Counters of a [`Cache`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Found in memory.
    pub memory_hits: usize,
    /// Found on disk (NVRTC skipped).
    pub disk_hits: usize,
    /// Compiled by NVRTC.
    pub compiles: usize,
}

/// A two-level kernel cache.
#[derive(Debug)]
pub struct Cache {
    dir: Option<PathBuf>,
    mem: Mutex<HashMap<(Kernel, Options), Arc<CompiledKernel>>>,
    memory_hits: AtomicUsize,
    disk_hits: AtomicUsize,
    compiles: AtomicUsize,
}

/// The default disk cache directory (see the module documentation), if one can be named.
pub fn default_dir() -> Option<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(d) = env("EMBER_CACHE_DIR") {
        return Some(d.join("cuda"));
    }
    if let Some(d) = env("XDG_CACHE_HOME") {
        return Some(d.join("ember").join("cuda"));
    }
    env("HOME").map(|h| h.join(".cache").join("ember").join("cuda"))
}

impl Cache {
    /// A cache storing compiled images under `dir` (memory only when `None`).
    pub fn new(dir: Option<PathBuf>) -> Self {
        Cache {
            dir,
            mem: Mutex::new(HashMap::new()),
            memory_hits: AtomicUsize::new(0),
            disk_hits: AtomicUsize::new(0),
            compiles: AtomicUsize::new(0),
        }
    }

    /// The disk directory, if any.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The compiled kernel for `kernel` with `opts`: from memory, from disk, or compiled now.
    pub fn get(&self, kernel: &Kernel, opts: &Options) -> Result<Arc<CompiledKernel>> {
        kernel.verify()?;
        let key = (kernel.normalized(), *opts);
        if let Some(c) = self.lock().get(&key) {
            self.memory_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(c.clone());
        }
        let rendered = render_kernel(kernel)?;
        let info = nvrtc::nvrtc()?;
        let header = format!(
            "// nvrtc {}.{} {}\n",
            info.version.0,
            info.version.1,
            opts.flags().join(" ")
        );
        let keyed = format!("{header}{}", rendered.source);
        let (image, compile_time, from_disk, log) = match self.read_disk(&keyed, opts) {
            Some(image) => {
                self.disk_hits.fetch_add(1, Ordering::Relaxed);
                (image, Duration::ZERO, true, String::new())
            }
            None => {
                let Compiled { image, time, log } =
                    nvrtc::compile(&kernel.name, &rendered.source, opts)?;
                self.compiles.fetch_add(1, Ordering::Relaxed);
                self.write_disk(&keyed, opts, &image);
                (image, time, false, log)
            }
        };
        let compiled = Arc::new(CompiledKernel {
            kernel: kernel.clone(),
            rendered,
            options: *opts,
            image,
            compile_time,
            from_disk,
            log,
        });
        // Two threads may compile the same kernel at once; the first stored wins.
        Ok(self.lock().entry(key).or_insert(compiled).clone())
    }

    /// The counters so far.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            memory_hits: self.memory_hits.load(Ordering::Relaxed),
            disk_hits: self.disk_hits.load(Ordering::Relaxed),
            compiles: self.compiles.load(Ordering::Relaxed),
        }
    }

    /// Empties the memory cache and deletes the cache's files on disk (only Ember's:
    /// `.cu`, `.ptx` and `.cubin` files in the cache directory).
    pub fn clear(&self) -> Result<()> {
        self.lock().clear();
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(cache_err(dir, e)),
        };
        for e in entries.flatten() {
            let p = e.path();
            let ours = p
                .extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| matches!(x, "cu" | "ptx" | "cubin"));
            if ours {
                std::fs::remove_file(&p).map_err(|e| cache_err(&p, e))?;
            }
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(Kernel, Options), Arc<CompiledKernel>>> {
        // A panic while holding the lock cannot leave the map inconsistent (inserts only).
        self.mem.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn paths(&self, keyed: &str, opts: &Options) -> Option<(PathBuf, PathBuf)> {
        let dir = self.dir.as_ref()?;
        let h = format!("{:016x}", fnv1a(keyed.as_bytes()));
        let ext = if opts.cubin { "cubin" } else { "ptx" };
        Some((dir.join(format!("{h}.cu")), dir.join(format!("{h}.{ext}"))))
    }

    fn read_disk(&self, keyed: &str, opts: &Options) -> Option<Image> {
        let (src, img) = self.paths(keyed, opts)?;
        if std::fs::read_to_string(&src).ok()? != keyed {
            return None;
        }
        let bytes = std::fs::read(&img).ok()?;
        if opts.cubin {
            Some(Image::Cubin(bytes))
        } else {
            String::from_utf8(bytes).ok().map(Image::Ptx)
        }
    }

    fn write_disk(&self, keyed: &str, opts: &Options, image: &Image) {
        let Some((src, img)) = self.paths(keyed, opts) else {
            return;
        };
        let Some(dir) = &self.dir else {
            return;
        };
        // Best effort: a read-only or full disk leaves the memory cache working. The image
        // is written before the source, so a reader that finds the source finds the image.
        let _ = std::fs::create_dir_all(dir)
            .and_then(|_| write_atomic(&img, image.bytes()))
            .and_then(|_| write_atomic(&src, keyed.as_bytes()));
    }
}

/// Writes through a temporary file and a rename, so concurrent processes never read half a file.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

fn cache_err(p: &Path, e: std::io::Error) -> crate::CodegenError {
    super::error::CudaError::Cache {
        path: p.display().to_string(),
        msg: e.to_string(),
    }
    .into()
}

/// 64-bit FNV-1a: stable across Rust versions and processes (unlike `DefaultHasher`).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

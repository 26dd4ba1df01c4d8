//! Finding NVRTC at run time and compiling CUDA C with it.
//!
//! cudarc opens NVRTC by *name* (`libnvrtc.so.12`, ...) through the system's loader, which
//! does not look inside Python wheels. So Ember looks for the library itself, in this order:
//!
//! 1. `EMBER_NVRTC_PATH`: the library file, or a directory holding it;
//! 2. the `site-packages/nvidia/*/lib/` directories of Python environments: `VIRTUAL_ENV`,
//!    the environment of the running executable (an embedding Python), and a `.venv` in the
//!    current directory or any directory above it (the workspace's, made by scripts/setup.sh);
//! 3. whatever the system loader finds by name (a CUDA toolkit on `LD_LIBRARY_PATH`).
//!
//! A library found on disk is opened by its full path and kept open for the life of the
//! process; the loader then answers cudarc's later open-by-name with that same library (it
//! matches an already loaded object by its soname), so cudarc's bindings use it.
//!
//! The library must match the CUDA major version cudarc was built for (12: the workspace pins
//! cudarc's `cuda-12080` feature), i.e. `libnvrtc.so.12` from `nvidia-cuda-nvrtc-cu12`.
//!
//! Compile options, and why (the "fast-math" choices): IEEE division and square root
//! (`--prec-div=true --prec-sqrt=true`) and no flush-to-zero (`--ftz=false`), so results match
//! the interpreter's float semantics; FMA contraction on (`--fmad=true`): `a*b+c` rounds once
//! instead of twice, within 1 ULP of the reference per contraction and faster. The math
//! functions are CUDA's accurate ones (`expf`: 2 ULP, `tanhf`: 2 ULP, `erff`: 2 ULP).
//! [`Options::fast_math`] switches to `--use_fast_math` (approximate `__expf`-style intrinsics,
//! flush-to-zero, approximate division), which is off by default.

use super::error::CudaError;
use super::libs;
use crate::error::Result;
use cudarc::nvrtc::{result, sys};
use std::ffi::{CStr, CString};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The CUDA major version the bindings were built for (the `cuda-12080` feature).
pub const CUDA_MAJOR: u32 = 12;
/// The library file name searched for.
pub const LIB_NAME: &str = "libnvrtc.so.12";

/// The NVRTC library in use.
#[derive(Clone, Debug)]
pub struct NvrtcInfo {
    /// Where it was loaded from (`None`: found by the system loader by name).
    pub path: Option<PathBuf>,
    /// `(major, minor)` NVRTC version.
    pub version: (i32, i32),
}

/// NVRTC, found and loaded on first use (the search runs once per process).
pub fn nvrtc() -> Result<&'static NvrtcInfo> {
    static LIB: OnceLock<std::result::Result<NvrtcInfo, (String, Vec<String>)>> = OnceLock::new();
    LIB.get_or_init(load).as_ref().map_err(|(why, looked)| {
        CudaError::NoNvrtc {
            why: why.clone(),
            looked_in: looked.clone(),
        }
        .into()
    })
}

/// True when NVRTC can be loaded.
pub fn nvrtc_available() -> bool {
    nvrtc().is_ok()
}

/// Where NVRTC is looked for (see the module documentation).
const SEARCH: libs::Search = libs::Search {
    env_var: "EMBER_NVRTC_PATH",
    file: LIB_NAME,
    package: "cuda_nvrtc",
};

fn load() -> std::result::Result<NvrtcInfo, (String, Vec<String>)> {
    let (candidates, looked) = libs::candidates(&SEARCH);
    let mut why = format!("no {LIB_NAME} in any of these places");
    for path in &candidates {
        // SAFETY: loading NVRTC runs its initializers, which have no preconditions.
        match unsafe { libloading::Library::new(path) } {
            Ok(lib) => {
                // Kept open for the process: cudarc's bindings resolve symbols through the
                // loader's handle to this same object.
                std::mem::forget(lib);
                return finish(Some(path.clone())).map_err(|e| (e, looked.clone()));
            }
            Err(e) => why = format!("{} failed to load: {e}", path.display()),
        }
    }
    // SAFETY: only tries to open the library by its usual names.
    if unsafe { sys::is_culib_present() } {
        return finish(None).map_err(|e| (e, looked));
    }
    Err((why, looked))
}

fn finish(path: Option<PathBuf>) -> std::result::Result<NvrtcInfo, String> {
    // SAFETY: the library is present now (just loaded, or found by name), so cudarc's lazy
    // binding finds it; nvrtcVersion only writes the two integers.
    let is_present = unsafe { sys::is_culib_present() };
    if !is_present {
        return Err(format!(
            "{} loaded, but cudarc could not open it by name",
            path.as_deref().unwrap_or(Path::new(LIB_NAME)).display()
        ));
    }
    let (mut major, mut minor) = (0, 0);
    let status = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: see above.
        unsafe { sys::nvrtcVersion(&mut major, &mut minor) }
    }))
    .map_err(|_| "the library has no nvrtcVersion".to_string())?;
    status
        .result()
        .map_err(|e| format!("nvrtcVersion failed: {e:?}"))?;
    if major as u32 != CUDA_MAJOR {
        return Err(format!(
            "found NVRTC {major}.{minor}, but Ember's CUDA bindings are for CUDA {CUDA_MAJOR}"
        ));
    }
    Ok(NvrtcInfo {
        path,
        version: (major, minor),
    })
}

/// What NVRTC produces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Image {
    /// PTX text (portable: the driver compiles it for the device on load).
    Ptx(String),
    /// A CUBIN for one exact architecture.
    Cubin(Vec<u8>),
}

impl Image {
    /// The bytes stored in the disk cache.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Image::Ptx(s) => s.as_bytes(),
            Image::Cubin(b) => b,
        }
    }
}

/// How to compile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Options {
    /// Compute capability as `major * 10 + minor` (90 for an H100).
    pub arch: u32,
    /// Produce a CUBIN for `sm_<arch>` instead of PTX for `compute_<arch>`.
    pub cubin: bool,
    /// `--use_fast_math` (see the module documentation).
    pub fast_math: bool,
}

impl Options {
    /// PTX for `compute_<arch>`, accurate math.
    pub fn ptx(arch: u32) -> Self {
        Options {
            arch,
            cubin: false,
            fast_math: false,
        }
    }

    /// The NVRTC command-line options.
    pub fn flags(&self) -> Vec<String> {
        let target = if self.cubin { "sm" } else { "compute" };
        let mut v = vec![
            format!("--gpu-architecture={target}_{}", self.arch),
            "--std=c++17".into(),
        ];
        if self.fast_math {
            v.push("--use_fast_math".into());
        } else {
            v.extend(
                [
                    "--fmad=true",
                    "--ftz=false",
                    "--prec-div=true",
                    "--prec-sqrt=true",
                ]
                .map(String::from),
            );
        }
        v
    }
}

/// A compiled kernel image and how long NVRTC took.
#[derive(Clone, Debug)]
pub struct Compiled {
    /// The image.
    pub image: Image,
    /// NVRTC's wall time.
    pub time: Duration,
    /// NVRTC's log (warnings), possibly empty.
    pub log: String,
}

/// Compiles CUDA C `source` (of kernel `name`, for messages) with NVRTC. Errors carry NVRTC's
/// log and the source; a missing NVRTC is an error too, never a panic.
pub fn compile(name: &str, source: &str, opts: &Options) -> Result<Compiled> {
    nvrtc()?;
    let flags = opts.flags();
    let fail = |status: String, log: String| CudaError::Compile {
        kernel: name.into(),
        status,
        options: flags.clone(),
        log,
        code: source.into(),
    };
    let src = CString::new(source)
        .map_err(|_| fail("source contains a NUL byte".into(), String::new()))?;
    let t0 = Instant::now();
    // cudarc's bindings panic if a symbol is missing from the library: keep that a value.
    let out = std::panic::catch_unwind(|| run_nvrtc(&src, &flags, opts.cubin))
        .map_err(|_| fail("NVRTC library is missing a symbol".into(), String::new()))?;
    let time = t0.elapsed();
    match out {
        Ok((image, log)) => Ok(Compiled { image, time, log }),
        Err((status, log)) => Err(fail(status, log).into()),
    }
}

fn run_nvrtc(
    src: &CStr,
    flags: &[String],
    cubin: bool,
) -> std::result::Result<(Image, String), (String, String)> {
    let prog = result::create_program(src, None).map_err(|e| (format!("{e:?}"), String::new()))?;
    let guard = Program(prog);
    // SAFETY: `prog` is a live program; options are NUL-free ASCII.
    let compiled = unsafe { result::compile_program(guard.0, flags) };
    // SAFETY: as above.
    let log = unsafe { result::get_program_log(guard.0) }
        .map(|l| c_chars_to_string(&l))
        .unwrap_or_default();
    compiled.map_err(|e| (format!("{:?}", e.0), log.clone()))?;
    let image = if cubin {
        let mut size = 0usize;
        // SAFETY: compiled program; size is written by NVRTC.
        unsafe { sys::nvrtcGetCUBINSize(guard.0, &mut size) }
            .result()
            .map_err(|e| (format!("{:?}", e.0), log.clone()))?;
        let mut buf = vec![0u8; size];
        // SAFETY: `buf` holds `size` bytes as NVRTC asked.
        unsafe { sys::nvrtcGetCUBIN(guard.0, buf.as_mut_ptr().cast()) }
            .result()
            .map_err(|e| (format!("{:?}", e.0), log.clone()))?;
        Image::Cubin(buf)
    } else {
        // SAFETY: compiled program.
        let ptx =
            unsafe { result::get_ptx(guard.0) }.map_err(|e| (format!("{:?}", e.0), log.clone()))?;
        Image::Ptx(c_chars_to_string(&ptx))
    };
    Ok((image, log))
}

/// Destroys the NVRTC program however compilation ends.
struct Program(sys::nvrtcProgram);
impl Drop for Program {
    fn drop(&mut self) {
        // SAFETY: created by nvrtcCreateProgram and destroyed once; a failure leaks only.
        let _ = unsafe { result::destroy_program(self.0) };
    }
}

fn c_chars_to_string(v: &[std::ffi::c_char]) -> String {
    let bytes: Vec<u8> = v.iter().map(|&c| c as u8).take_while(|&b| b != 0).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

//! Finding NVIDIA's run-time libraries (NVRTC, cuBLAS) on disk. cudarc opens them by *name*
//! through the system's loader, which does not look inside Python wheels, so Ember looks for
//! the file itself, in this order:
//!
//! 1. an environment variable naming the library file, or a directory holding it;
//! 2. the `site-packages/nvidia/*/lib/` directories of Python environments: `VIRTUAL_ENV`,
//!    the environment of the running executable (an embedding Python), and a `.venv` in the
//!    current directory or any directory above it (the workspace's, made by scripts/setup.sh);
//! 3. whatever the system loader finds by name (a CUDA toolkit on `LD_LIBRARY_PATH`), which
//!    the caller tries last.
//!
//! A library found on disk is opened by its full path and kept open for the life of the
//! process; the loader then answers cudarc's later open-by-name with that same library (it
//! matches an already loaded object by its soname), so cudarc's bindings use it.

use std::path::{Path, PathBuf};

/// What to look for.
#[derive(Clone, Copy, Debug)]
pub struct Search {
    /// The environment variable that names the file or its directory.
    pub env_var: &'static str,
    /// The file name (`libnvrtc.so.12`).
    pub file: &'static str,
    /// The wheel's package directory under `site-packages/nvidia/`, tried first there.
    pub package: &'static str,
}

/// The library files to try, in order, and a description of every place looked at.
pub fn candidates(s: &Search) -> (Vec<PathBuf>, Vec<String>) {
    let mut files = Vec::new();
    let mut looked = Vec::new();
    if let Some(p) = std::env::var_os(s.env_var) {
        let p = PathBuf::from(p);
        looked.push(format!("{}={}", s.env_var, p.display()));
        if p.is_dir() {
            files.push(p.join(s.file));
        } else {
            files.push(p);
        }
    }
    let mut envs: Vec<PathBuf> = Vec::new();
    if let Some(v) = std::env::var_os("VIRTUAL_ENV") {
        envs.push(PathBuf::from(v));
    }
    // An embedding Python's environment: .../env/bin/python -> .../env.
    if let Ok(exe) = std::env::current_exe() {
        if let Some(env) = exe.parent().and_then(Path::parent) {
            envs.push(env.to_path_buf());
        }
    }
    if let Ok(cwd) = std::env::current_dir() {
        let venvs: Vec<PathBuf> = cwd.ancestors().map(|d| d.join(".venv")).collect();
        if !venvs.iter().any(|v| v.is_dir()) {
            looked.push(format!(
                "a .venv in {} or above (none exists)",
                cwd.display()
            ));
        }
        envs.extend(venvs);
    }
    for env in envs {
        if !env.is_dir() {
            continue;
        }
        looked.push(format!(
            "{}/lib/python3*/site-packages/nvidia/*/lib",
            env.display()
        ));
        files.extend(wheel_libs(&env, s));
    }
    looked.push(format!(
        "the system loader's search path ({} by name)",
        s.file
    ));
    files.dedup();
    (files, looked)
}

/// `s.file` files under `env/lib/python*/site-packages/nvidia/*/lib/` (the wheel's own
/// package first).
fn wheel_libs(env: &Path, s: &Search) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for lib in ["lib", "lib64"] {
        let Ok(pys) = std::fs::read_dir(env.join(lib)) else {
            continue;
        };
        let mut pys: Vec<PathBuf> = pys
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("python"))
            })
            .collect();
        pys.sort();
        for py in pys {
            let nvidia = py.join("site-packages").join("nvidia");
            let preferred = nvidia.join(s.package).join("lib").join(s.file);
            if preferred.is_file() {
                out.push(preferred);
            }
            let Ok(pkgs) = std::fs::read_dir(&nvidia) else {
                continue;
            };
            let mut pkgs: Vec<PathBuf> = pkgs.flatten().map(|e| e.path()).collect();
            pkgs.sort();
            for pkg in pkgs {
                let f = pkg.join("lib").join(s.file);
                if f.is_file() && !out.contains(&f) {
                    out.push(f);
                }
            }
        }
    }
    out
}

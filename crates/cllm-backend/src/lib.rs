//! # cllm-backend
//!
//! The compute backend of **cllm**, chosen once by cargo feature, and a device constructor
//! that never panics or hangs. This is the one place where backend selection lives: the model
//! crates (`cllm-backbone`, `cllm-autoencoder`) and the binaries take their backend aliases
//! from here, and their own `flex` / `ndarray` / `wgpu` / `cuda` features forward to this
//! crate's, so that every crate of a build picks the same backend. (`cllm_backbone::device`
//! re-exports this crate under its former name.)
//!
//! | feature | backend | device |
//! |---|---|---|
//! | `flex` (default) | `burn::backend::Flex` | the CPU (`gemm`-crate kernels, AVX-512 where present) |
//! | `ndarray` | `burn::backend::NdArray` | the CPU (with `--no-default-features`; `openblas` adds OpenBLAS) |
//! | `wgpu` | `burn::backend::Wgpu` | the default GPU adapter (Vulkan/Metal/DX12) |
//! | `cuda` | `burn::backend::Cuda` | CUDA device 0 |
//!
//! With several features on, the most specific wins (`cuda` > `wgpu` > `flex` > `ndarray`).
//! Creating a CUDA device panics inside the driver bindings when `libcuda` is missing, and
//! a wgpu device can hang forever without a Vulkan driver; [`default_device`] probes for the
//! driver library first, catches panics, and gives up on a hanging adapter after a timeout,
//! returning a [`DeviceError`] instead.
//!
//! ```
//! let device = cllm_backend::default_device()?;
//! println!("running on {}", cllm_backend::backend_name());
//! # Ok::<(), cllm_backend::DeviceError>(())
//! ```
#![deny(missing_docs)]

pub mod simd;

use thiserror::Error;

/// The backend picked by cargo features.
#[cfg(feature = "cuda")]
pub type DefaultBackend = burn::backend::Cuda;
/// The backend picked by cargo features.
#[cfg(all(feature = "wgpu", not(feature = "cuda")))]
pub type DefaultBackend = burn::backend::Wgpu;
/// The backend picked by cargo features.
#[cfg(not(any(feature = "cuda", feature = "wgpu")))]
pub type DefaultBackend = CpuBackend;

/// The CPU backend picked by cargo features: Flex (default), or NdArray when `flex` is off.
/// Both are multi-threaded; on the 2-core development VM a CLLM training step runs about
/// 2× faster on Flex (`docs/benchmarks.md`).
#[cfg(feature = "flex")]
pub type CpuBackend = burn::backend::Flex;
/// The CPU backend picked by cargo features: Flex (default), or NdArray when `flex` is off.
#[cfg(all(feature = "ndarray", not(feature = "flex")))]
pub type CpuBackend = burn::backend::NdArray;

/// The device type of [`DefaultBackend`].
pub type DefaultDevice = burn::tensor::Device<DefaultBackend>;

/// Why no device could be created.
#[derive(Debug, Error)]
pub enum DeviceError {
    /// The GPU driver library could not be loaded.
    #[error("{backend} backend: driver library not found ({detail}); install the GPU driver or build without the `{backend}` feature")]
    DriverMissing {
        /// Backend name.
        backend: &'static str,
        /// What was tried.
        detail: String,
    },
    /// Device initialisation panicked inside the backend.
    #[error("{backend} backend: device initialisation failed: {detail}")]
    InitFailed {
        /// Backend name.
        backend: &'static str,
        /// The panic message.
        detail: String,
    },
    /// Device initialisation did not finish in time (typically wgpu without a driver).
    #[error("{backend} backend: device initialisation did not finish within {seconds} s")]
    Timeout {
        /// Backend name.
        backend: &'static str,
        /// The time waited.
        seconds: u64,
    },
}

/// Name of the backend picked by cargo features: `"cuda"`, `"wgpu"`, `"flex"` or `"ndarray"`.
pub fn backend_name() -> &'static str {
    if cfg!(feature = "cuda") {
        "cuda"
    } else if cfg!(feature = "wgpu") {
        "wgpu"
    } else if cfg!(feature = "flex") {
        "flex"
    } else {
        "ndarray"
    }
}

/// Creates the default device of [`DefaultBackend`], checked by running one small
/// operation on it. Never panics; never blocks for longer than about a minute.
pub fn default_device() -> Result<DefaultDevice, DeviceError> {
    let backend = backend_name();
    if let Some(libs) = driver_libraries() {
        probe_libraries(backend, libs)?;
    }
    let init = || {
        let device = DefaultDevice::default();
        let t = burn::tensor::Tensor::<DefaultBackend, 1>::from_floats([1.0, 2.0], &device);
        let sum: f32 = t.sum().into_scalar();
        (sum == 3.0).then_some(device)
    };
    let outcome = run_guarded(init, std::time::Duration::from_secs(60));
    match outcome {
        Guarded::Done(Some(device)) => Ok(device),
        Guarded::Done(None) => Err(DeviceError::InitFailed {
            backend,
            detail: "a test computation returned a wrong result".into(),
        }),
        Guarded::Panicked(detail) => Err(DeviceError::InitFailed { backend, detail }),
        Guarded::TimedOut(d) => Err(DeviceError::Timeout {
            backend,
            seconds: d.as_secs(),
        }),
    }
}

/// The shared libraries whose absence makes the backend panic or hang.
fn driver_libraries() -> Option<&'static [&'static str]> {
    if cfg!(feature = "cuda") {
        Some(&["libcuda.so.1", "libcuda.so", "nvcuda.dll"])
    } else if cfg!(feature = "wgpu") && cfg!(target_os = "linux") {
        Some(&["libvulkan.so.1", "libvulkan.so"])
    } else {
        None
    }
}

fn probe_libraries(backend: &'static str, names: &[&str]) -> Result<(), DeviceError> {
    let mut errors = Vec::new();
    for name in names {
        // SAFETY: loading a system driver library runs its initialisers, exactly as the
        // backend itself is about to do; the handle is dropped at once.
        match unsafe { libloading::Library::new(name) } {
            Ok(_) => return Ok(()),
            Err(e) => errors.push(format!("{name}: {e}")),
        }
    }
    Err(DeviceError::DriverMissing {
        backend,
        detail: errors.join("; "),
    })
}

enum Guarded<T> {
    Done(T),
    Panicked(String),
    TimedOut(std::time::Duration),
}

/// Runs `f` on a helper thread, catching panics and giving up after `timeout`.
fn run_guarded<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
    timeout: std::time::Duration,
) -> Guarded<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let _ = tx.send(result);
    });
    match rx.recv_timeout(timeout) {
        Ok(Ok(v)) => Guarded::Done(v),
        Ok(Err(panic)) => Guarded::Panicked(panic_message(panic.as_ref())),
        Err(_) => Guarded::TimedOut(timeout),
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_device_works_on_cpu() {
        assert!(default_device().is_ok());
    }

    #[test]
    fn guard_catches_panics_and_timeouts() {
        let p = run_guarded(
            || -> u8 { panic!("boom") },
            std::time::Duration::from_secs(5),
        );
        assert!(matches!(p, Guarded::Panicked(m) if m == "boom"));
        let t = run_guarded(
            || std::thread::sleep(std::time::Duration::from_secs(3)),
            std::time::Duration::from_millis(50),
        );
        assert!(matches!(t, Guarded::TimedOut(_)));
        assert!(matches!(
            probe_libraries("test", &["libdefinitely-not-here.so.9"]),
            Err(DeviceError::DriverMissing { .. })
        ));
    }
}

//! Choosing the compute device: Burn's pure-Rust `flex` CPU backend, `wgpu` for GPUs, or
//! LibTorch's CPU backend (`tch`, an optional build).

use burn::prelude::Device;

use super::TrainError;

crate::choices! {
    /// `backend:` in the experiment file.
    pub enum BackendChoice {
        /// wgpu when built with it and a real (not software) GPU adapter exists; else flex.
        Auto = "auto",
        /// Burn's pure-Rust CPU backend.
        Flex = "flex",
        /// wgpu (Vulkan, Metal, DX12).
        Wgpu = "wgpu",
        /// LibTorch (PyTorch's C++ library) on the CPU: a build with `--features tch`.
        Tch = "tch",
    }
}

/// Whether `device` (with or without autodiff) is the host backend, flex: there, batches are
/// built as floats and outputs read every batch, since nothing crosses a bus.
pub fn is_host(device: &Device) -> bool {
    *device == Device::flex()
}

/// The chosen device (without autodiff) and a sentence saying which and why.
pub fn select(choice: BackendChoice) -> Result<(Device, String), TrainError> {
    match choice {
        BackendChoice::Flex => Ok((Device::flex(), "flex (CPU), as configured".into())),
        BackendChoice::Wgpu => {
            wgpu_device().map(|(d, name)| (d, format!("wgpu on {name}, as configured")))
        }
        BackendChoice::Tch => tch_device().map(|d| (d, "LibTorch (CPU), as configured".into())),
        BackendChoice::Auto => match real_gpu() {
            Some(name) => wgpu_device().map(|(d, _)| {
                (
                    d,
                    format!("wgpu on {name} (auto: a GPU adapter is present)"),
                )
            }),
            None => Ok((
                Device::flex(),
                format!("flex (CPU) (auto: {})", no_gpu_reason()),
            )),
        },
    }
}

/// `count` devices of the chosen backend (the first is [`select`]'s) and the sentence.
/// wgpu: the first `count` discrete GPUs; flex: `count` handles of the one CPU device.
pub fn select_many(
    choice: BackendChoice,
    count: usize,
) -> Result<(Vec<Device>, String), TrainError> {
    let (first, why) = select(choice)?;
    if count <= 1 {
        return Ok((vec![first], why));
    }
    if choice == BackendChoice::Tch {
        return Err(TrainError::Backend(format!(
            "devices: {count} with backend: tch, which has one CPU device; set devices: 1"
        )));
    }
    if is_host(&first) {
        let why = format!(
            "{why}; devices: {count} workers share the one CPU device (data-parallel code path, no faster than 1)"
        );
        return Ok((vec![first; count], why));
    }
    let found = gpu_count();
    if found < count {
        return Err(TrainError::Backend(format!(
            "devices: {count}, but wgpu finds {found} discrete GPU(s); set devices to at most {found}"
        )));
    }
    let devices = (0..count).map(gpu).collect();
    Ok((
        devices,
        format!("{why}; devices: {count} GPUs, each batch split across them"),
    ))
}

/// Discrete GPU number `i`.
#[cfg(feature = "wgpu")]
fn gpu(i: usize) -> Device {
    Device::wgpu(burn::tensor::DeviceKind::DiscreteGpu(i))
}

#[cfg(not(feature = "wgpu"))]
fn gpu(_: usize) -> Device {
    unreachable!("without wgpu, select() gives flex")
}

/// How many discrete GPU adapters wgpu finds.
#[cfg(feature = "wgpu")]
fn gpu_count() -> usize {
    use burn::tensor::wgpu::wgpu;
    let instance = wgpu::Instance::default();
    pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()))
        .into_iter()
        .filter(|a| a.get_info().device_type == wgpu::DeviceType::DiscreteGpu)
        .count()
}

#[cfg(not(feature = "wgpu"))]
fn gpu_count() -> usize {
    0
}

#[cfg(feature = "wgpu")]
fn no_gpu_reason() -> &'static str {
    "no hardware GPU adapter found; software adapters such as lavapipe do not count"
}

#[cfg(not(feature = "wgpu"))]
fn no_gpu_reason() -> &'static str {
    "this binary was built without the `wgpu` feature"
}

/// What wgpu finds: each adapter's name and whether it is hardware (a discrete or integrated
/// GPU, not a CPU emulation such as lavapipe or llvmpipe).
#[cfg(feature = "wgpu")]
fn adapters() -> Vec<(String, bool)> {
    use burn::tensor::wgpu::wgpu;
    let instance = wgpu::Instance::default();
    pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()))
        .into_iter()
        .map(|a| a.get_info())
        .map(|i| {
            let hardware = matches!(
                i.device_type,
                wgpu::DeviceType::DiscreteGpu | wgpu::DeviceType::IntegratedGpu
            );
            (i.name, hardware)
        })
        .collect()
}

/// The name of a hardware GPU adapter, if wgpu finds one.
#[cfg(feature = "wgpu")]
fn real_gpu() -> Option<String> {
    adapters().into_iter().find(|a| a.1).map(|a| a.0)
}

#[cfg(not(feature = "wgpu"))]
fn real_gpu() -> Option<String> {
    None
}

/// The default wgpu device and the adapter it runs on: a hardware GPU when there is one,
/// else a software adapter (said so: it runs every kernel of the GPU path, slower than flex).
#[cfg(feature = "wgpu")]
fn wgpu_device() -> Result<(Device, String), TrainError> {
    let found = adapters();
    let name = match (found.iter().find(|a| a.1), found.first()) {
        (Some((name, _)), _) => name.clone(),
        (None, Some((name, _))) => format!(
            "{name}, a software adapter (no hardware GPU found): every GPU kernel runs on the CPU, slower than backend: flex"
        ),
        (None, None) => {
            return Err(TrainError::Backend(
                "backend: wgpu, but wgpu finds no adapter (no Vulkan, Metal or DX12 driver); install the GPU's driver (on Linux without a GPU, `apt-get install mesa-vulkan-drivers` gives a software one), or set backend: flex".into(),
            ));
        }
    };
    Ok((Device::wgpu(burn::tensor::DeviceKind::DefaultDevice), name))
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_device() -> Result<(Device, String), TrainError> {
    Err(TrainError::Backend(
        "backend: wgpu, but this binary was built without GPU support; rebuild with `cargo run --release --features wgpu -- ...`, or set backend: flex".into(),
    ))
}

/// LibTorch's CPU device (Burn 0.22 marks its LibTorch backend deprecated: kept here as an
/// optional build to measure against, `benches/RESULTS.md`).
#[cfg(feature = "tch")]
#[allow(deprecated)]
fn tch_device() -> Result<Device, TrainError> {
    Ok(Device::libtorch())
}

#[cfg(not(feature = "tch"))]
fn tch_device() -> Result<Device, TrainError> {
    Err(TrainError::Backend(
        "backend: tch, but this binary was built without LibTorch; build it as the README says (\"Backends\", LibTorch on the CPU: `--features tch` with PyTorch 2.9.0 installed), or set backend: flex".into(),
    ))
}

#[cfg(all(test, not(feature = "tch")))]
mod tests {
    use super::*;

    #[test]
    fn tch_without_its_build_says_how_to_build_it() {
        let e = select(BackendChoice::Tch).unwrap_err().to_string();
        assert!(e.contains("backend: tch"), "{e}");
        assert!(e.contains("--features tch"), "{e}");
        assert!(e.contains("backend: flex"), "{e}");
    }
}

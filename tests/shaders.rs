//! Every kernel's WGSL parses and validates with naga, no GPU needed, and its bindings agree
//! with what the executor binds (`Kernel::binding_kinds`).

use naga::valid::{Capabilities, ValidationFlags, Validator};
use wgpu_rnn::kernels::{BindingKind, Kernel, KernelBuild};

fn module(kernel: Kernel, build: KernelBuild, rows: u32) -> naga::Module {
    let src = kernel.source(build, rows);
    match naga::front::wgsl::parse_str(&src) {
        Ok(m) => m,
        Err(e) => panic!("{}: {}", kernel.file(), e.emit_to_string(&src)),
    }
}

/// Every build of every kernel validates with only the capabilities it asks for: without lane
/// sharing, kernels that do not need subgroups validate without them (devices without subgroups
/// run them); without wide loads, without 64-bit integers; each with every `ROWS` it is built for.
#[test]
fn every_kernel_validates() {
    let builds = Kernel::ALL.into_iter().flat_map(|k| KernelBuild::ALL.map(|b| (k, b)));
    for (kernel, build, rows) in builds.flat_map(|(k, b)| k.row_variants().iter().map(move |&r| (k, b, r))) {
        let m = module(kernel, build, rows);
        let mut caps = Capabilities::empty();
        caps.set(Capabilities::SUBGROUP, kernel.needs_subgroups() || build.share_lanes);
        caps.set(Capabilities::SHADER_INT64, build.wide_loads);
        if let Err(e) = Validator::new(ValidationFlags::all(), caps).validate(&m) {
            panic!(
                "{} ({build:?}, ROWS {rows}) does not validate: {}",
                kernel.file(),
                e.emit_to_string(&kernel.source(build, rows))
            );
        }
        assert!(
            m.entry_points.iter().any(|ep| ep.name == kernel.entry_point()),
            "{} lacks entry point {}",
            kernel.file(),
            kernel.entry_point()
        );
    }
}

#[test]
fn bindings_match_the_executor() {
    for kernel in Kernel::ALL {
        let m = module(kernel, KernelBuild::default(), 1);
        let mut found: Vec<(u32, naga::AddressSpace)> = m
            .global_variables
            .iter()
            .filter_map(|(_, v)| v.binding.as_ref().map(|b| (b.group, b.binding, v.space)))
            .map(|(g, b, s)| {
                assert_eq!(g, 0, "{}: one bind group", kernel.file());
                (b, s)
            })
            .collect();
        found.sort_by_key(|(b, _)| *b);
        let kinds = kernel.binding_kinds();
        assert_eq!(found.len(), kinds.len(), "{}: binding count", kernel.file());
        for ((binding, space), kind) in found.iter().zip(kinds) {
            let ok = match (space, kind) {
                (naga::AddressSpace::Uniform, BindingKind::Uniform(_) | BindingKind::DynamicUniform(_)) => true,
                (naga::AddressSpace::Storage { access }, BindingKind::StorageRead) => {
                    !access.contains(naga::StorageAccess::STORE)
                }
                (naga::AddressSpace::Storage { access }, BindingKind::StorageReadWrite | BindingKind::StateHalf) => {
                    access.contains(naga::StorageAccess::STORE)
                }
                _ => false,
            };
            assert!(ok, "{} binding {binding}: shader has {space:?}, executor binds {kind:?}", kernel.file());
        }
    }
}

#[test]
fn a_broken_shader_is_caught() {
    // The check above can fail: a type error must not validate.
    let src =
        Kernel::RnnStep.source(KernelBuild::default(), 1).replace("let hv = activate(", "let hv: u32 = activate(");
    let m = naga::front::wgsl::parse_str(&src);
    let invalid = match m {
        Err(_) => true,
        Ok(m) => Validator::new(ValidationFlags::all(), Capabilities::empty()).validate(&m).is_err(),
    };
    assert!(invalid);
}

//! The kernels, checked without a GPU: every build of every kernel validates with naga; the
//! composition the files declare is complete and needed; bindings, workgroup sizes and shared
//! constants agree with Rust; the table of versions matches the kernels; comments hold no
//! timing histories.

use std::collections::BTreeSet;
use std::path::Path;

use naga::valid::{Capabilities, ValidationFlags, Validator};
use wgpu_rnn::kernels::{self, BindingKind, KERNELS, Kernel, KernelBuild, SHADER_FILES, TrainKernel};

fn module(kernel: Kernel, build: KernelBuild, rows: u32) -> naga::Module {
    let src = kernel.source(build, rows);
    match naga::front::wgsl::parse_str(&src) {
        Ok(m) => m,
        Err(e) => panic!("{} ({build}, ROWS {rows}): {}", kernel.file(), e.emit_to_string(&src)),
    }
}

/// Every (kernel, build, ROWS) the engine compiles.
fn every_build() -> Vec<(Kernel, KernelBuild, u32)> {
    let mut v = Vec::new();
    for kernel in Kernel::ALL {
        for &build in kernel.builds() {
            for &rows in kernel.row_variants() {
                v.push((kernel, build, rows));
            }
        }
    }
    v
}

/// Every build of every kernel validates with only the capabilities its build has: portable
/// kernels without subgroups (except the split-K ones, built only where the device has them),
/// `lanes` without 64-bit integers; each with every `ROWS` it is built for.
#[test]
fn every_kernel_validates() {
    for (kernel, build, rows) in every_build() {
        let m = module(kernel, build, rows);
        let mut caps = Capabilities::empty();
        caps.set(Capabilities::SUBGROUP, kernel.needs_subgroups());
        caps.set(Capabilities::SHADER_INT64, build == KernelBuild::LanesWide);
        if let Err(e) = Validator::new(ValidationFlags::all(), caps).validate(&m) {
            panic!(
                "{} ({build}, ROWS {rows}) does not validate: {}",
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

/// The training kernels validate without any capability (every adapter runs them), translate to
/// SPIR-V as wgpu does for Vulkan (naga's writer can fail on WGSL that validates), have their
/// entry points, and declare the bindings Rust binds.
#[test]
fn every_training_kernel_validates() {
    for kernel in TrainKernel::ALL {
        let src = kernel.source();
        let m = naga::front::wgsl::parse_str(&src)
            .unwrap_or_else(|e| panic!("{}: {}", kernel.entry_point(), e.emit_to_string(&src)));
        let info = match Validator::new(ValidationFlags::all(), Capabilities::empty()).validate(&m) {
            Ok(info) => info,
            Err(e) => panic!("{} does not validate: {}", kernel.entry_point(), e.emit_to_string(&src)),
        };
        if let Err(e) = naga::back::spv::write_vec(&m, &info, &naga::back::spv::Options::default(), None) {
            panic!("{}: SPIR-V: {e}", kernel.entry_point());
        }
        assert!(m.entry_points.iter().any(|ep| ep.name == kernel.entry_point()), "{kernel:?}: entry point");
        let bindings = m.global_variables.iter().filter(|(_, v)| v.binding.is_some()).count();
        assert_eq!(bindings, kernel.binding_kinds().len(), "{kernel:?}: bindings");
        let storage = kernel
            .binding_kinds()
            .iter()
            .filter(|k| !matches!(k, BindingKind::Uniform(_) | BindingKind::DynamicUniform(_)))
            .count();
        assert!(storage <= 8, "{kernel:?}: {storage} storage buffers, over WebGPU's default limit of 8");
    }
}

#[test]
fn only_the_lanes_kernels_need_subgroups_besides_split_k() {
    for kernel in Kernel::ALL {
        let lanes = kernel.builds().iter().all(|b| b.shares_lanes());
        assert_eq!(kernel.shares_lanes(), lanes, "{kernel:?}: built only where lanes are shared");
        if kernel.shares_lanes() {
            assert_eq!(kernel.portable().lanes(), Some(kernel), "{kernel:?} is its portable twin's lanes version");
            assert_eq!(kernel.binding_kinds(), kernel.portable().binding_kinds(), "{kernel:?} binds as its twin");
        }
    }
}

#[test]
fn bindings_match_the_executor() {
    for kernel in Kernel::ALL {
        let m = module(kernel, kernel.builds()[0], 1);
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
    let src = Kernel::RnnStep.source(KernelBuild::Portable, 1).replace("let hv = activate(", "let hv: u32 = activate(");
    let m = naga::front::wgsl::parse_str(&src);
    let invalid = match m {
        Err(_) => true,
        Ok(m) => Validator::new(ValidationFlags::all(), Capabilities::empty()).validate(&m).is_err(),
    };
    assert!(invalid);
}

/// `shaders/` relative names of every .wgsl file, without the extension.
fn files_on_disk() -> BTreeSet<String> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeSet<String>) {
        for e in std::fs::read_dir(dir).expect("shaders/ is readable") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                walk(&p, root, out);
            } else if p.extension().is_some_and(|x| x == "wgsl") {
                let rel = p.strip_prefix(root).expect("under shaders/").with_extension("");
                out.insert(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut out = BTreeSet::new();
    walk(&root, &root, &mut out);
    out
}

/// The names a WGSL text declares at module scope (functions, constants, overrides, aliases,
/// structs, variables).
fn declared(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let mut rest = line.trim_start();
        if rest.starts_with("//") || line.starts_with(' ') {
            continue;
        }
        if let Some(i) = rest.find(" var") {
            if rest.starts_with('@') {
                rest = &rest[i + 1..];
            }
        }
        for kw in ["fn ", "const ", "override ", "alias ", "struct ", "var<", "var "] {
            if let Some(after) = rest.strip_prefix(kw) {
                let after =
                    if kw == "var<" { after.split_once('>').map_or("", |(_, r)| r.trim_start()) } else { after };
                let name: String = after.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if !name.is_empty() {
                    names.insert(name);
                }
            }
        }
    }
    names
}

/// Identifiers a WGSL text mentions outside comments.
fn mentioned(text: &str) -> BTreeSet<String> {
    let code: String = text.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n");
    code.split(|c: char| !(c.is_alphanumeric() || c == '_')).filter(|w| !w.is_empty()).map(String::from).collect()
}

/// Composition is declared in the shader files and checked: every file is registered, every
/// `// uses:` names a file, each used file provides something the user mentions, and no file
/// is used twice or in a cycle (`kernels::composition` panics on a cycle). That the declared
/// files suffice is `every_kernel_validates`.
#[test]
fn composition_is_declared_in_the_files_and_each_use_is_needed() {
    let registered: BTreeSet<String> = SHADER_FILES.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(registered, files_on_disk(), "kernels::SHADER_FILES lists exactly the files in shaders/");
    for (name, text) in SHADER_FILES {
        let uses = kernels::uses(text);
        let unique: BTreeSet<&str> = uses.iter().copied().collect();
        assert_eq!(unique.len(), uses.len(), "{name}: a file is used twice");
        for used in uses {
            for build in KernelBuild::ALL {
                let file = build.resolve(used);
                let provided =
                    declared(kernels::shader_file(file).unwrap_or_else(|| panic!("{name} uses {used}: no such file")));
                let mentions = mentioned(text);
                let needed: Vec<_> = provided.intersection(&mentions).collect();
                assert!(!needed.is_empty(), "{name} uses {file} ({build}) but mentions nothing it declares");
            }
        }
        for build in KernelBuild::ALL {
            let files = kernels::composition(name, build);
            assert_eq!(files.last().copied(), Some(build.resolve(name)), "{name} comes after what it uses");
        }
    }
    // the check can fail: a file that declares nothing the user mentions
    assert!(declared("fn h_load(i: u32) -> f32 {\n    return 0.0;\n}").contains("h_load"));
    assert!(!mentioned("// h_load\nfn other() {}").contains("h_load"));
}

#[test]
fn the_table_of_versions_matches_the_kernels() {
    let benchmarks =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md")).expect("BENCHMARKS.md");
    let headings: Vec<&str> =
        benchmarks.lines().filter_map(|l| l.strip_prefix('#')).map(|l| l.trim_start_matches('#').trim()).collect();
    assert_eq!(KERNELS.len(), Kernel::ALL.len());
    let mut entry_points = BTreeSet::new();
    for (row, kernel) in KERNELS.iter().zip(Kernel::ALL) {
        assert_eq!(row.kernel, kernel, "KERNELS is in the order of Kernel::ALL");
        assert!(entry_points.insert(row.entry_point), "{} listed twice", row.entry_point);
        let text =
            kernels::shader_file(row.file).unwrap_or_else(|| panic!("{}: no file {}", row.entry_point, row.file));
        assert!(text.contains(&format!("fn {}(", row.entry_point)), "{}.wgsl has fn {}", row.file, row.entry_point);
        let header: String = text.lines().take_while(|l| l.starts_with("//")).collect::<Vec<_>>().join("\n");
        assert!(header.contains(row.entry_point), "{}.wgsl's header names {}", row.file, row.entry_point);
        assert!(
            headings.iter().any(|h| h.starts_with(row.benchmarks)),
            "{}: BENCHMARKS.md has no section \"{}\"",
            row.entry_point,
            row.benchmarks
        );
        assert!(!row.rows.is_empty() && !row.builds.is_empty() && !row.picked.is_empty());
        assert_eq!(Kernel::parse(row.entry_point), Some(kernel));
    }
}

/// Each header's list of versions names entry points that exist: every `name_like_this` in a
/// kernel file's header that looks like one of ours (a kernel file's name with a suffix) is an
/// entry point in `KERNELS`.
#[test]
fn headers_list_the_versions_that_exist() {
    let entry_points: BTreeSet<&str> = KERNELS.iter().map(|v| v.entry_point).collect();
    let stems: BTreeSet<&str> =
        ["input_projection", "rnn_step", "gru_step", "gru_gates", "gru_candidate", "lstm_step"].into_iter().collect();
    for (name, text) in SHADER_FILES {
        let header: String = text.lines().take_while(|l| l.starts_with("//")).collect::<Vec<_>>().join("\n");
        for word in header.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
            let ours = stems.iter().any(|s| word.starts_with(&format!("{s}_")) || word == *s);
            let file = SHADER_FILES.iter().any(|(n, _)| *n == word || n.strip_prefix("shared/") == Some(word));
            if ours && !file {
                assert!(entry_points.contains(word), "{name}.wgsl's header names `{word}`, which is no kernel");
            }
        }
    }
}

/// Workgroup sizes: what the WGSL declares (read by naga) is what the plan sizes dispatches by.
#[test]
fn workgroup_sizes_agree_with_rust() {
    for (kernel, build, rows) in every_build() {
        let m = module(kernel, build, rows);
        let ep = m.entry_points.iter().find(|ep| ep.name == kernel.entry_point()).expect("entry point");
        assert_eq!(ep.workgroup_size, kernel.workgroup_size(rows), "{} ({build}, ROWS {rows})", kernel.entry_point());
    }
}

/// Shared constants have one source: the prelude writes Rust's values, naga reads them back
/// from every module, and no shader file defines one itself.
#[test]
fn shared_constants_come_from_rust() {
    let shared = kernels::shared_constants();
    for name in ["UNIT_BLOCK", "STEP_WORKGROUP", "TILE_UNITS", "TILE_BATCH", "PERSISTENT_UNITS", "ACT_SOFTPLUS"] {
        assert!(shared.iter().any(|(n, _)| n == name), "{name} is shared");
    }
    for (kernel, build, rows) in every_build() {
        let m = module(kernel, build, rows);
        for (name, value) in shared.iter().chain(&[("ROWS".to_string(), rows)]) {
            let (_, c) = m
                .constants
                .iter()
                .find(|(_, c)| c.name.as_deref() == Some(name.as_str()))
                .unwrap_or_else(|| panic!("{}: no constant {name}", kernel.entry_point()));
            let got = match m.global_expressions[c.init] {
                naga::Expression::Literal(naga::Literal::U32(v)) => v,
                ref e => panic!("{name}: {e:?}"),
            };
            assert_eq!(got, *value, "{name} in {}", kernel.entry_point());
        }
    }
    for (file, text) in SHADER_FILES {
        let own = declared(text);
        for (name, _) in &shared {
            assert!(!own.contains(name), "{file}.wgsl defines {name}, which Rust owns (kernels::shared_constants)");
        }
    }
}

/// Comments say what and why; measurement histories belong in BENCHMARKS.md. A comment in
/// `shaders/` or `src/` that quotes a timing ("169 -> 146 ms", "1.5x faster") fails.
#[test]
fn comments_hold_no_timing_histories() {
    fn timing(comment: &str) -> bool {
        let words: Vec<&str> = comment.split_whitespace().collect();
        words.windows(2).any(|w| {
            let number = w[0].trim_start_matches(['(', '~']).chars().next().is_some_and(|c| c.is_ascii_digit());
            let unit = ["ms", "ms)", "ms,", "ms;", "us", "GFLOP/s"].contains(&w[1]);
            let times = w[0].ends_with('x') && w[0][..w[0].len() - 1].parse::<f64>().is_ok();
            let compared = ["faster", "slower", "faster,", "slower,", "faster)", "slower)"].contains(&w[1]);
            (number && unit) || (times && compared)
        }) || words.windows(3).any(|w| w[1] == "->" && w[2].ends_with("ms"))
    }
    assert!(timing("// LSTM H1024 steps 169 -> 146 ms on lavapipe") && timing("/// 1.5x faster there"));
    assert!(!timing("// a copy indexed at run time goes to memory"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut offenders = Vec::new();
    let mut files = Vec::new();
    for dir in ["shaders", "shaders/shared", "src", "src/plan", "src/gpu", "src/cpu", "src/bin"] {
        for e in std::fs::read_dir(root.join(dir)).expect("readable") {
            let p = e.expect("entry").path();
            if p.extension().is_some_and(|x| x == "wgsl" || x == "rs") {
                files.push(p);
            }
        }
    }
    for p in files {
        let text = std::fs::read_to_string(&p).expect("readable");
        for (i, line) in text.lines().enumerate() {
            if let Some((_, comment)) = line.split_once("//") {
                if timing(comment) {
                    offenders.push(format!("{}:{}: {}", p.display(), i + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "timing histories in comments (move them to BENCHMARKS.md):\n{}",
        offenders.join("\n")
    );
}

use wgpu_rnn::case::Case;
#[test]
fn gpu_all() {
    let engine = wgpu_rnn::Engine::gpu().unwrap();
    println!("{:?}", engine.adapter());
    let mut fails = 0;
    let mut paths: Vec<_> = std::fs::read_dir("tests/data/conformance").unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|x| x == "safetensors")).collect();
    paths.sort();
    for p in paths {
        let c = Case::load(&p).unwrap();
        let model = engine.load(c.network.clone()).unwrap();
        let out = match model.forward(&c.inputs) { Ok(o) => o, Err(e) => { println!("ERR {} {e}", c.name); fails += 1; continue; } };
        for cmp in c.compare(&out) {
            if !cmp.passed() { fails += 1; println!("FAIL {} {} rel={:e} max={:e} {:?}", c.name, cmp.name, cmp.rel, cmp.max, cmp.mismatches); }
        }
    }
    assert_eq!(fails, 0);
}

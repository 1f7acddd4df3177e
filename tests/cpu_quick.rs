use wgpu_rnn::case::Case;
#[test]
fn cpu_all() {
    let mut fails = 0;
    for e in std::fs::read_dir("tests/data/conformance").unwrap() {
        let p = e.unwrap().path();
        if p.extension().map_or(true, |x| x != "safetensors") { continue; }
        let c = Case::load(&p).unwrap();
        let out = wgpu_rnn::cpu::forward(&c.network, &c.inputs).unwrap();
        for cmp in c.compare(&out) {
            if !cmp.passed() { fails += 1; println!("FAIL {} {} rel={:e} max={:e} {:?}", c.name, cmp.name, cmp.rel, cmp.max, cmp.mismatches); }
        }
    }
    assert_eq!(fails, 0);
}

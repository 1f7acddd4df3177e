//! 1 000+ agents whose LSTM controllers step on the GPU every frame and whose outputs move them
//! in a render pass, with no readback in the frame loop. Opens a window when it can; headless it
//! renders offscreen and writes a PNG.
//!
//!     cargo run --release --example agents
//!     cargo run --release --example agents -- --headless --frames 120 --out agents.png --check
//!
//! Options: --agents N (1024), --hidden H (64), --frames N (120 headless; unbounded in a window),
//! --size PIXELS (512), --seed S, --check (compare positions with the CPU reference at the end).

#[path = "sim.rs"]
mod sim;

use std::sync::Arc;
use std::time::Instant;

use sim::{AgentsConfig, GpuAgents};
use wgpu_rnn::Engine;

struct Args {
    headless: bool,
    frames: Option<u32>,
    out: Option<String>,
    size: u32,
    check: bool,
    cfg: AgentsConfig,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        headless: false,
        frames: None,
        out: None,
        size: 512,
        check: false,
        cfg: AgentsConfig { agents: 1024, hidden: 64, seed: 7 },
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let num = |v: String| v.parse::<u64>().map_err(|_| format!("{flag}: `{v}` is not a number"));
        match flag.as_str() {
            "--headless" => a.headless = true,
            "--check" => a.check = true,
            "--frames" => a.frames = Some(num(value()?)? as u32),
            "--out" => a.out = Some(value()?),
            "--size" => a.size = num(value()?)? as u32,
            "--agents" => a.cfg.agents = num(value()?)? as usize,
            "--hidden" => a.cfg.hidden = num(value()?)? as usize,
            "--seed" => a.cfg.seed = num(value()?)?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(a)
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("agents: {e}");
            std::process::exit(2);
        }
    };
    if !args.headless {
        match window::run(&args) {
            Ok(()) => return,
            Err(e) => eprintln!("agents: no window ({e}); running headless"),
        }
    }
    if let Err(e) = headless(&args) {
        eprintln!("agents: {e}");
        std::process::exit(1);
    }
}

/// The host application's own device, as a game would create it.
fn host_device(
    instance: &wgpu::Instance,
    surface: Option<&wgpu::Surface<'_>>,
) -> Result<(wgpu::Adapter, wgpu::Device, wgpu::Queue), String> {
    let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
        power_preference: wgpu::PowerPreference::HighPerformance,
        compatible_surface: surface,
        force_fallback_adapter: false,
        ..Default::default()
    }))
    .map_err(|e| format!("no adapter: {e}"))?;
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: Some("agents host device"),
        required_limits: adapter.limits(),
        ..Default::default()
    }))
    .map_err(|e| e.to_string())?;
    Ok((adapter, device, queue))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn headless(args: &Args) -> Result<(), String> {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
    let (adapter, device, queue) = host_device(&instance, None)?;
    let engine = Engine::from_wgpu(device.clone(), queue.clone()).map_err(|e| e.to_string())?;
    let model = engine.load(sim::controller(&args.cfg)).map_err(|e| e.to_string())?;
    let format = wgpu::TextureFormat::Rgba8UnormSrgb;
    let mut agents = GpuAgents::new(&device, &model, args.cfg, format).map_err(|e| e.to_string())?;
    let size = args.size;
    let target = GpuAgents::target(&device, size, format);
    let view = target.create_view(&Default::default());
    let frames = args.frames.unwrap_or(120);
    println!(
        "adapter: {} ({:?}); {} agents, LSTM H={}, {frames} frames, {size}x{size}",
        adapter.get_info().name,
        adapter.get_info().backend,
        args.cfg.agents,
        args.cfg.hidden
    );
    let (mut record, mut frame_ms) = (Vec::new(), Vec::new());
    for _ in 0..frames {
        let t0 = Instant::now();
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("frame") });
        agents.encode_frame(&queue, &mut encoder).map_err(|e| e.to_string())?;
        agents.encode_draw(&mut encoder, &view);
        queue.submit([encoder.finish()]);
        record.push(t0.elapsed().as_secs_f64() * 1e6);
        // a game would present here; headless, wait so that the frame time is measurable
        device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| e.to_string())?;
        frame_ms.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "per frame: CPU record+submit {:.0} us (median), frame done on the GPU after {:.2} ms (median)",
        median(&mut record),
        median(&mut frame_ms)
    );
    if let Some(out) = &args.out {
        write_png(&device, &queue, &target, size, out)?;
        println!("wrote {out}");
    }
    if args.check {
        let gpu = agents.read_positions(&device, &queue).map_err(|e| e.to_string())?;
        let cpu = sim::cpu_reference(&args.cfg, agents.frame());
        let worst =
            gpu.iter().zip(&cpu).map(|(g, c)| (g[0] - c[0]).abs().max((g[1] - c[1]).abs())).fold(0.0f32, f32::max);
        println!("positions after {} frames: max |GPU - CPU reference| = {worst:.2e}", agents.frame());
        if worst > 1e-3 {
            return Err(format!("positions differ from the CPU reference by {worst}"));
        }
    }
    Ok(())
}

fn write_png(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    target: &wgpu::Texture,
    size: u32,
    path: &str,
) -> Result<(), String> {
    let row = (size * 4).div_ceil(256) * 256; // bytes_per_row must be a multiple of 256
    let buffer = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("agents.png"),
        size: (row * size) as u64,
        usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("png") });
    encoder.copy_texture_to_buffer(
        target.as_image_copy(),
        wgpu::TexelCopyBufferInfo {
            buffer: &buffer,
            layout: wgpu::TexelCopyBufferLayout { offset: 0, bytes_per_row: Some(row), rows_per_image: None },
        },
        wgpu::Extent3d { width: size, height: size, depth_or_array_layers: 1 },
    );
    let words = wgpu_rnn::gpu::PendingRead::start(device, queue, encoder, &buffer, buffer.size())
        .wait()
        .map_err(|e| e.to_string())?;
    let bytes: &[u8] = bytemuck::cast_slice(&words);
    let pixels: Vec<u8> =
        (0..size as usize).flat_map(|y| bytes[y * row as usize..][..size as usize * 4].to_vec()).collect();
    let file = std::fs::File::create(path).map_err(|e| format!("{path}: {e}"))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), size, size);
    enc.set_color(png::ColorType::Rgba);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header().and_then(|mut w| w.write_image_data(&pixels)).map_err(|e| format!("{path}: {e}"))
}

mod window {
    //! The windowed frame loop (winit): simulate and draw every frame, present, repeat.
    use super::*;
    use winit::application::ApplicationHandler;
    use winit::event::WindowEvent;
    use winit::event_loop::{ActiveEventLoop, EventLoop};
    use winit::window::{Window, WindowId};

    struct Running {
        window: Arc<Window>,
        surface: wgpu::Surface<'static>,
        config: wgpu::SurfaceConfiguration,
        device: wgpu::Device,
        queue: wgpu::Queue,
        agents: GpuAgents,
        _engine: Engine,
    }

    struct App {
        args_cfg: AgentsConfig,
        size: u32,
        frames: Option<u32>,
        running: Option<Running>,
        error: Option<String>,
    }

    impl App {
        fn start(&mut self, el: &ActiveEventLoop) -> Result<Running, String> {
            let window = Arc::new(
                el.create_window(
                    Window::default_attributes()
                        .with_title("wgpu-rnn agents")
                        .with_inner_size(winit::dpi::PhysicalSize::new(self.size, self.size)),
                )
                .map_err(|e| e.to_string())?,
            );
            let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
            let surface = instance.create_surface(window.clone()).map_err(|e| e.to_string())?;
            let (adapter, device, queue) = host_device(&instance, Some(&surface))?;
            let sz = window.inner_size();
            let config = surface
                .get_default_config(&adapter, sz.width.max(1), sz.height.max(1))
                .ok_or("surface not supported by the adapter")?;
            surface.configure(&device, &config);
            let engine = Engine::from_wgpu(device.clone(), queue.clone()).map_err(|e| e.to_string())?;
            let model = engine.load(sim::controller(&self.args_cfg)).map_err(|e| e.to_string())?;
            let agents = GpuAgents::new(&device, &model, self.args_cfg, config.format).map_err(|e| e.to_string())?;
            println!("window: {} agents on {}", self.args_cfg.agents, adapter.get_info().name);
            Ok(Running { window, surface, config, device, queue, agents, _engine: engine })
        }
    }

    impl ApplicationHandler for App {
        fn resumed(&mut self, el: &ActiveEventLoop) {
            if self.running.is_none() {
                match self.start(el) {
                    Ok(r) => {
                        r.window.request_redraw();
                        self.running = Some(r);
                    }
                    Err(e) => {
                        self.error = Some(e);
                        el.exit();
                    }
                }
            }
        }

        fn window_event(&mut self, el: &ActiveEventLoop, _id: WindowId, event: WindowEvent) {
            let Some(r) = self.running.as_mut() else { return };
            match event {
                WindowEvent::CloseRequested => el.exit(),
                WindowEvent::Resized(s) if s.width > 0 && s.height > 0 => {
                    r.config.width = s.width;
                    r.config.height = s.height;
                    r.surface.configure(&r.device, &r.config);
                }
                WindowEvent::RedrawRequested => {
                    let frame = match r.surface.get_current_texture() {
                        wgpu::CurrentSurfaceTexture::Success(f) | wgpu::CurrentSurfaceTexture::Suboptimal(f) => f,
                        _ => {
                            r.surface.configure(&r.device, &r.config);
                            r.window.request_redraw();
                            return;
                        }
                    };
                    let view = frame.texture.create_view(&Default::default());
                    let mut encoder =
                        r.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("frame") });
                    if let Err(e) = r.agents.encode_frame(&r.queue, &mut encoder) {
                        self.error = Some(e.to_string());
                        el.exit();
                        return;
                    }
                    r.agents.encode_draw(&mut encoder, &view);
                    r.queue.submit([encoder.finish()]);
                    r.queue.present(frame);
                    if self.frames.is_some_and(|n| r.agents.frame() >= n) {
                        el.exit();
                    } else {
                        r.window.request_redraw();
                    }
                }
                _ => {}
            }
        }
    }

    /// Runs in a window; an error when no window can be opened (no display, no surface).
    pub fn run(args: &Args) -> Result<(), String> {
        let event_loop = EventLoop::new().map_err(|e| e.to_string())?;
        let mut app = App { args_cfg: args.cfg, size: args.size, frames: args.frames, running: None, error: None };
        event_loop.run_app(&mut app).map_err(|e| e.to_string())?;
        match app.error {
            Some(e) if app.running.is_none() => Err(e),
            Some(e) => {
                eprintln!("agents: {e}");
                Ok(())
            }
            None => Ok(()),
        }
    }
}

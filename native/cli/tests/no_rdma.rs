//! Requirement: the `ferry` binary loads and runs (on the tcp provider) on a
//! machine without rdma-core. libibverbs and librdmacm are opened at run time,
//! so the binary names neither, and a missing library costs one log line.

mod common;

use std::process::Command;

use common::{ferry, manifest, scratch, Server, FERRY};

#[test]
fn the_binary_links_no_rdma_library() {
    let Ok(out) = Command::new("readelf").args(["-d", FERRY]).output() else {
        eprintln!("skipped: no readelf");
        return;
    };
    let dynamic = String::from_utf8_lossy(&out.stdout);
    assert!(dynamic.contains("NEEDED"), "{dynamic}");
    for lib in ["ibverbs", "rdmacm", "mlx", "efa"] {
        assert!(!dynamic.contains(lib), "ferry links {lib}:\n{dynamic}");
    }
}

#[test]
fn without_rdma_core_it_runs_on_tcp_with_one_log_line() {
    // Stands in for a machine without rdma-core: the loader is pointed at
    // library names that do not exist (children inherit the environment).
    std::env::set_var("FERRY_LIBIBVERBS", "/nonexistent/libibverbs.so.1");
    let info = ferry(&["info"]);
    info.assert_ok();
    assert!(
        info.stdout
            .contains("verbs  unavailable: /nonexistent/libibverbs.so.1: cannot open"),
        "{}",
        info.stdout
    );
    let dir = scratch("no-rdma");
    let server = Server::start(&dir, "server", &["--generate", "8", "--size", "100k"]);
    assert_eq!(
        manifest(&server.manifest)["blocks"]
            .as_array()
            .unwrap()
            .len(),
        8
    );
    let out = ferry(&["fetch", "--manifest", server.manifest.to_str().unwrap()]);
    out.assert_ok();
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("RDMA verbs unavailable"))
        .collect();
    assert_eq!(lines.len(), 1, "one clear line:\n{}", out.stderr);
    assert!(lines[0].contains("libibverbs.so.1") && lines[0].contains("using tcp"));
    assert!(out.stderr.contains("provider tcp"), "{}", out.stderr);
}

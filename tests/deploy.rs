//! The deployment files under deploy/ (a Kubernetes Indexed Job, an AWS Batch array job):
//! they pass schema validation offline (scripts/validate-deploy.sh: the Kubernetes API
//! schemas bundled in the PyPI package `kubernetes-validate`, strict; botocore's model of AWS
//! Batch), broken copies fail it, and the shard count is one number everywhere. For that
//! last check the shell scripts of the manifests run for real, index by index, with stand-ins
//! for `extract`, `load-postgres` and `verify` that record their command lines: each index
//! must take `--shard I/N` with N = completions = parallelism (Batch: the array size), and
//! the combine step must read exactly the N reports the shards wrote. Nothing is applied to
//! a cluster or submitted to AWS.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Runs the validator on `files` (all of deploy/ when empty): (exit code, stderr).
fn validate(files: &[&Path]) -> (i32, String) {
    let out = Command::new("bash")
        .arg(root().join("scripts/validate-deploy.sh"))
        .args(files)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The YAML and JSON files under `dir`, recursively.
fn deploy_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs_err::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(deploy_files(&path));
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            files.push(path);
        }
    }
    files
}

#[test]
fn shipped_manifests_pass_schema_validation() {
    let n = deploy_files(&root().join("deploy")).len();
    assert!(n >= 3, "deploy/ has {n} YAML/JSON files");
    let (code, err) = validate(&[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains(&format!("{n} file(s) valid")), "{err}");
}

/// Writes `text` as `dir/name`, checks that it differs from `original`, validates it and
/// expects a failure whose message contains `expect`.
fn expect_invalid(dir: &Path, name: &str, original: &str, text: &str, expect: &str) {
    assert_ne!(text, original, "{name}: the edit must change the file");
    let p = dir.join(name);
    fs_err::write(&p, text).unwrap();
    let (code, err) = validate(&[&p]);
    assert_ne!(code, 0, "{name} passed the validator: {err}");
    assert!(
        err.contains(expect),
        "{name}: expected {expect:?} in: {err}"
    );
}

#[test]
fn broken_copies_fail_schema_validation() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let job = fs_err::read_to_string(root().join("deploy/kubernetes/indexed-job.yaml")).unwrap();
    let bad = "invalid Kubernetes object";
    let count_as_text = job.replace("completions: 4", "completions: \"4\"");
    expect_invalid(d, "string-count.yaml", &job, &count_as_text, bad);
    expect_invalid(
        d,
        "string-count.yaml",
        &job,
        &count_as_text,
        "spec.completions",
    );
    let typo = job.replace("completionMode: Indexed", "completionMod: Indexed");
    expect_invalid(d, "typo.yaml", &job, &typo, bad);
    let limit = job.replace("backoffLimitPerIndex: 3", "backoffLimitPerIndex: lots");
    expect_invalid(d, "limit.yaml", &job, &limit, "backoffLimitPerIndex");

    let def_text =
        fs_err::read_to_string(root().join("deploy/aws-batch/job-definition.json")).unwrap();
    let def: Value = serde_json::from_str(&def_text).unwrap();
    // The array size belongs to submit-job, not to the job definition: an unknown key there.
    let mut misplaced = def.clone();
    misplaced["arrayProperties"] = json!({ "size": 4 });
    let misplaced = serde_json::to_string_pretty(&misplaced).unwrap();
    expect_invalid(
        d,
        "job-definition.json",
        &def_text,
        &misplaced,
        "arrayProperties",
    );
    let typo = def_text.replace("\"environment\"", "\"enviroment\"");
    expect_invalid(d, "job-definition.json", &def_text, &typo, "enviroment");
    let attempts = def_text.replace("\"attempts\": 4", "\"attempts\": \"4\"");
    expect_invalid(
        d,
        "job-definition.json",
        &def_text,
        &attempts,
        "retryStrategy.attempts",
    );

    let sub = fs_err::read_to_string(root().join("deploy/aws-batch/submit-job.json")).unwrap();
    let size = sub.replace("\"size\": 4", "\"size\": \"4\"");
    expect_invalid(d, "submit-job.json", &sub, &size, "arrayProperties.size");
}

/// A stand-in for a Ferry tool: appends its command line to $FERRY_STUB_LOG, reads its
/// input, writes an `ok` report where asked.
const STUB: &str = r#"#!/bin/bash
tool=$(basename "$0")
# One write of the whole line: the two tools of a pipe run at once.
line=$tool; for a in "$@"; do line+=" $a"; done
printf '%s\n' "$line" >> "$FERRY_STUB_LOG"
case "$tool" in
  extract) echo '{}' ;;
  load-*) cat > /dev/null ;;
esac
prev=
for a in "$@"; do
  if [ "$prev" = --report ]; then
    printf '{"tool":"%s","status":"ok","exit_code":0}\n' "$tool" > "$a"
  fi
  prev=$a
done
exit 0
"#;

/// A folder with the stand-ins, and a /state folder for the scripts.
struct Sandbox {
    dir: tempfile::TempDir,
    runs: std::cell::Cell<u32>,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        fs_err::create_dir_all(dir.path().join("bin")).unwrap();
        fs_err::create_dir_all(dir.path().join("state")).unwrap();
        for tool in ["extract", "load-postgres", "load-mysql", "verify"] {
            let p = dir.path().join("bin").join(tool);
            fs_err::write(&p, STUB).unwrap();
            fs_err::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        Sandbox {
            dir,
            runs: std::cell::Cell::new(0),
        }
    }

    fn state(&self) -> String {
        self.dir.path().join("state").to_str().unwrap().to_string()
    }

    /// Runs `program args` (the container's command, with `mount` moved into the sandbox)
    /// with `env`: the command lines of the tools it ran, one token list each.
    fn run(
        &self,
        mount: &str,
        command: &[String],
        env: &BTreeMap<String, String>,
    ) -> Vec<Vec<String>> {
        self.runs.set(self.runs.get() + 1);
        let log = self
            .dir
            .path()
            .join(format!("calls-{}.log", self.runs.get()));
        let command: Vec<String> = command
            .iter()
            .map(|a| a.replace(mount, &self.state()))
            .collect();
        let path = format!(
            "{}:{}",
            self.dir.path().join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out = Command::new(&command[0])
            .args(&command[1..])
            .envs(env)
            .env("PATH", path)
            .env("FERRY_STUB_LOG", &log)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{command:?} with {env:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        fs_err::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(|l| l.split_whitespace().map(str::to_string).collect())
            .collect()
    }
}

/// The value after `flag` in a command line.
fn flag<'a>(call: &'a [String], name: &str) -> Option<&'a str> {
    call.iter()
        .position(|a| a == name)
        .and_then(|i| call.get(i + 1))
        .map(String::as_str)
}

/// Checks the calls of shard `i` of `n`: extract, a loader and verify, once each (the two
/// of the pipe in either order), each with `--shard i/n`. Returns the report verify wrote.
fn check_shard(calls: &[Vec<String>], i: u64, n: u64) -> String {
    let mut tools: Vec<&str> = calls.iter().map(|c| c[0].as_str()).collect();
    tools.sort_unstable();
    assert_eq!(
        tools,
        ["extract", "load-postgres", "verify"],
        "index {i}: {calls:?}"
    );
    for call in calls {
        assert_eq!(
            flag(call, "--shard"),
            Some(format!("{i}/{n}").as_str()),
            "index {i}: {call:?}"
        );
    }
    let verify = calls.iter().find(|c| c[0] == "verify").unwrap();
    flag(verify, "--report").unwrap().to_string()
}

/// Checks that the combine step ran `verify --combine` on exactly `reports`.
fn check_combine(calls: &[Vec<String>], reports: &BTreeSet<String>) {
    assert_eq!(calls.len(), 1, "{calls:?}");
    let call = &calls[0];
    assert_eq!(call[0], "verify", "{call:?}");
    let at = call.iter().position(|a| a == "--combine").unwrap();
    let read: BTreeSet<String> = call[at + 1..]
        .iter()
        .take_while(|a| !a.starts_with("--"))
        .cloned()
        .collect();
    assert_eq!(
        &read, reports,
        "the combine step must read the shards' reports: {call:?}"
    );
}

/// The objects of deploy/kubernetes/indexed-job.yaml.
fn k8s_objects() -> Vec<Value> {
    let text = fs_err::read_to_string(root().join("deploy/kubernetes/indexed-job.yaml")).unwrap();
    text.split("\n---\n")
        .map(|doc| serde_yaml::from_str::<Value>(doc).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

fn object<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in indexed-job.yaml"))
}

/// A Job's container: its command line and its environment (envFrom the ConfigMap and the
/// Secret of the file, then env).
fn container(objects: &[Value], job: &Value) -> (Vec<String>, BTreeMap<String, String>, String) {
    let pod = &job["spec"]["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    let c = &pod["containers"][0];
    assert_eq!(c["image"], "ferry:latest");
    let mut env = BTreeMap::new();
    for from in c["envFrom"].as_array().unwrap() {
        let (kind, key, field) = if from["configMapRef"].is_object() {
            ("ConfigMap", "configMapRef", "data")
        } else {
            ("Secret", "secretRef", "stringData")
        };
        let source = object(objects, kind, from[key]["name"].as_str().unwrap());
        for (k, v) in source[field].as_object().unwrap() {
            env.insert(k.clone(), v.as_str().unwrap().to_string());
        }
    }
    for e in c["env"].as_array().unwrap() {
        env.insert(
            e["name"].as_str().unwrap().into(),
            e["value"].as_str().unwrap().into(),
        );
    }
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    let mut command = strings(&c["command"]);
    command.extend(strings(&c["args"]));
    let volume = pod["volumes"][0]["persistentVolumeClaim"]["claimName"]
        .as_str()
        .unwrap();
    object(objects, "PersistentVolumeClaim", volume);
    (
        command,
        env,
        c["volumeMounts"][0]["mountPath"]
            .as_str()
            .unwrap()
            .to_string(),
    )
}

/// The Indexed Job: N = completions = parallelism; index I runs `--shard I/N` in every tool
/// (I from JOB_COMPLETION_INDEX); the combine Job reads the N reports. Returns N.
fn kubernetes_shards() -> u64 {
    let objects = k8s_objects();
    let shards = object(&objects, "Job", "ferry-shards");
    let spec = &shards["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    let n = spec["completions"].as_u64().unwrap();
    assert_eq!(spec["parallelism"].as_u64(), Some(n), "parallelism");
    assert!(
        spec["backoffLimitPerIndex"].as_u64().unwrap() > 0,
        "backoffLimitPerIndex"
    );
    let secret = object(&objects, "Secret", "ferry-passwords");
    for key in ["FERRY_SOURCE_PASSWORD", "FERRY_TARGET_PASSWORD"] {
        assert!(secret["stringData"][key].is_string(), "Secret {key}");
    }
    let sandbox = Sandbox::new();
    let (command, env, mount) = container(&objects, shards);
    let mut reports = BTreeSet::new();
    for i in 0..n {
        let mut env = env.clone();
        env.insert("JOB_COMPLETION_INDEX".into(), i.to_string());
        reports.insert(check_shard(&sandbox.run(&mount, &command, &env), i, n));
    }
    assert_eq!(reports.len() as u64, n, "one report per index: {reports:?}");
    let combine = object(&objects, "Job", "ferry-verify-combine");
    assert_eq!(
        combine["spec"]["suspend"], true,
        "the combine Job waits for the shards"
    );
    let (command, env, mount) = container(&objects, combine);
    check_combine(&sandbox.run(&mount, &command, &env), &reports);
    n
}

/// The Batch array job: N = arrayProperties.size; child I runs `--shard I/N` in every tool
/// (I from AWS_BATCH_JOB_ARRAY_INDEX, parameters substituted as Batch does); the same job
/// definition submitted without an array is the combine step. Returns N.
fn batch_shards() -> u64 {
    let read = |f: &str| -> Value {
        let text = fs_err::read_to_string(root().join("deploy/aws-batch").join(f)).unwrap();
        serde_json::from_str(&text).unwrap()
    };
    let (def, sub) = (read("job-definition.json"), read("submit-job.json"));
    assert_eq!(sub["jobDefinition"], def["jobDefinitionName"]);
    let n = sub["arrayProperties"]["size"].as_u64().unwrap();
    let mut params = def["parameters"].as_object().unwrap().clone();
    params.extend(sub["parameters"].as_object().unwrap().clone());
    assert_eq!(params["shards"], n.to_string(), "the shards parameter");
    let c = &def["containerProperties"];
    let command: Vec<String> = c["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let a = a.as_str().unwrap();
            match a.strip_prefix("Ref::") {
                Some(p) => params[p].as_str().unwrap().to_string(),
                None => a.to_string(),
            }
        })
        .collect();
    let mut env = BTreeMap::new();
    for e in c["environment"].as_array().unwrap() {
        env.insert(
            e["name"].as_str().unwrap().to_string(),
            e["value"].as_str().unwrap().to_string(),
        );
    }
    for s in c["secrets"].as_array().unwrap() {
        env.insert(
            s["name"].as_str().unwrap().to_string(),
            "placeholder".to_string(),
        );
    }
    assert!(env.contains_key("FERRY_SOURCE_PASSWORD") && env.contains_key("FERRY_TARGET_PASSWORD"));
    let mount = c["mountPoints"][0]["containerPath"].as_str().unwrap();
    let sandbox = Sandbox::new();
    let mut reports = BTreeSet::new();
    for i in 0..n {
        let mut env = env.clone();
        env.insert("AWS_BATCH_JOB_ARRAY_INDEX".into(), i.to_string());
        reports.insert(check_shard(&sandbox.run(mount, &command, &env), i, n));
    }
    assert_eq!(reports.len() as u64, n, "one report per index: {reports:?}");
    check_combine(&sandbox.run(mount, &command, &env), &reports);
    n
}

/// The number of shards is one number: the Job's completions and parallelism, the N of
/// every `--shard I/N` its pods run, the reports its combine Job reads, and the same for
/// the Batch array job.
#[test]
fn the_shard_count_agrees_everywhere() {
    let k8s = kubernetes_shards();
    let batch = batch_shards();
    assert_eq!(
        k8s, batch,
        "Kubernetes runs {k8s} shards, AWS Batch {batch}"
    );
}

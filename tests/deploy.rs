//! The deployment files under deploy/ (a Kubernetes Indexed Job, an AWS Batch array job)
//! pass schema validation offline (scripts/validate-deploy.sh: the Kubernetes API schemas
//! bundled in `kubernetes-validate`, strict; botocore's AWS Batch model), broken copies fail
//! it, and the shard count agrees everywhere. Nothing is applied.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

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

#[test]
fn shipped_manifests_pass_schema_validation() {
    let (code, err) = validate(&[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("3 file(s) valid"), "{err}");
}

#[test]
fn broken_manifests_fail_schema_validation() {
    let dir = tempfile::tempdir().unwrap();
    let job = fs_err::read_to_string(root().join("deploy/kubernetes/indexed-job.yaml")).unwrap();
    for (name, broken) in [
        (
            "string-count.yaml",
            job.replace("completions: 4", "completions: \"four\""),
        ),
        (
            "typo.yaml",
            job.replace("completionMode: Indexed", "completionMod: Indexed"),
        ),
        (
            "limit.yaml",
            job.replace("backoffLimitPerIndex: 3", "backoffLimitPerIndex: lots"),
        ),
    ] {
        assert_ne!(broken, job, "{name}: the edit must change the manifest");
        let p = dir.path().join(name);
        fs_err::write(&p, broken).unwrap();
        let (code, err) = validate(&[&p]);
        assert_ne!(code, 0, "{name} passed: {err}");
        assert!(err.contains("invalid Kubernetes object"), "{name}: {err}");
    }
    let def = fs_err::read_to_string(root().join("deploy/aws-batch/job-definition.json")).unwrap();
    let p = dir.path().join("job-definition.json");
    fs_err::write(
        &p,
        def.replace("\"containerProperties\"", "\"containerProperty\""),
    )
    .unwrap();
    let (code, err) = validate(&[&p]);
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("containerProperty"), "{err}");
    let sub = fs_err::read_to_string(root().join("deploy/aws-batch/submit-job.json")).unwrap();
    let p = dir.path().join("submit-job.json");
    fs_err::write(&p, sub.replace("\"size\": 4", "\"size\": \"4\"")).unwrap();
    let (code, err) = validate(&[&p]);
    assert_ne!(code, 0, "{err}");
}

/// The number of shards is one number: the Job's completions and parallelism, its SHARDS,
/// the combine Job's SHARDS, the Batch array size and its `shards` parameter.
#[test]
fn the_shard_count_agrees_everywhere() {
    let out = Command::new("python3")
        .arg("-c")
        .arg(
            "import json, sys, yaml\n\
             docs = list(yaml.safe_load_all(open(sys.argv[1])))\n\
             jobs = {d['metadata']['name']: d for d in docs if d['kind'] == 'Job'}\n\
             s = jobs['ferry-shards']['spec']\n\
             env = lambda j: {e['name']: e['value'] for e in j['spec']['template']['spec']['containers'][0]['env']}\n\
             print(json.dumps([s['completions'], s['parallelism'], int(env(jobs['ferry-shards'])['SHARDS']), int(env(jobs['ferry-verify-combine'])['SHARDS']), s['completionMode']]))",
        )
        .arg(root().join("deploy/kubernetes/indexed-job.yaml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let k: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(k, serde_json::json!([4, 4, 4, 4, "Indexed"]));
    let read = |f: &str| -> serde_json::Value {
        serde_json::from_str(
            &fs_err::read_to_string(root().join("deploy/aws-batch").join(f)).unwrap(),
        )
        .unwrap()
    };
    let (def, sub) = (read("job-definition.json"), read("submit-job.json"));
    assert_eq!(sub["arrayProperties"]["size"], 4);
    assert_eq!(sub["parameters"]["shards"], "4");
    assert_eq!(def["parameters"]["shards"], "4");
    let cmd = def["containerProperties"]["command"][2].as_str().unwrap();
    assert!(
        cmd.contains("I=$AWS_BATCH_JOB_ARRAY_INDEX") && cmd.contains("--shard \"$I/$N\""),
        "{cmd}"
    );
    let job = fs_err::read_to_string(root().join("deploy/kubernetes/indexed-job.yaml")).unwrap();
    assert!(job.contains("I=\"$JOB_COMPLETION_INDEX\"") && job.contains("--shard \"$I/$SHARDS\""));
}

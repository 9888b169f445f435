//! Launch wrappers: the argv that runs an agent's command locally, over ssh,
//! in a bubblewrap sandbox or in a docker container. Environment variables
//! the runtime sets are passed in the way each wrapper needs.

use crate::config::{LaunchSpec, StdioSpec};

/// bwrap arguments used when `launch_args` is empty: a read-only view of the
/// host, private /tmp, the working directory writable, no new privileges.
pub(crate) const BWRAP_DEFAULT: &[&str] =
    &["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--die-with-parent"];

/// The program and arguments to execute, and whether `env` must also be set
/// on the local process (true except for ssh and docker, which carry it).
pub(crate) fn argv(spec: &StdioSpec, env: &[(String, String)], container: &str) -> (Vec<String>, bool) {
    let command = spec.command.clone();
    match &spec.launch {
        LaunchSpec::Local => (command, true),
        LaunchSpec::Ssh { host, args } => {
            let mut v = vec!["ssh".to_string()];
            v.extend(args.iter().cloned());
            v.push(host.clone());
            v.push("--".into());
            // ssh joins its arguments into one remote shell command: quote each.
            let mut remote = vec!["env".to_string()];
            remote.extend(env.iter().map(|(k, val)| format!("{k}={val}")));
            remote.extend(command);
            v.push(remote.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" "));
            (v, false)
        }
        LaunchSpec::Bwrap { args } => {
            let mut v = vec!["bwrap".to_string()];
            if args.is_empty() {
                v.extend(BWRAP_DEFAULT.iter().map(|s| s.to_string()));
                if let Some(cwd) = &spec.cwd {
                    v.extend(["--bind".into(), cwd.clone(), cwd.clone()]);
                }
            } else {
                v.extend(args.iter().cloned());
            }
            v.push("--".into());
            v.extend(command);
            (v, true)
        }
        LaunchSpec::Docker { image, args } => {
            let mut v: Vec<String> =
                ["docker", "run", "-i", "--rm", "--init", "--name", container].iter().map(|s| s.to_string()).collect();
            for (k, val) in env {
                v.push("-e".into());
                v.push(format!("{k}={val}"));
            }
            v.extend(args.iter().cloned());
            v.push(image.clone());
            v.extend(command);
            (v, false)
        }
    }
}

fn quote(s: &str) -> String {
    shlex::try_quote(s).map(|c| c.into_owned()).unwrap_or_else(|_| format!("'{}'", s.replace('\0', "")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(launch: LaunchSpec) -> StdioSpec {
        StdioSpec {
            command: vec!["python3".into(), "agent.py".into(), "it's".into()],
            cwd: Some("/work".into()),
            env: Default::default(),
            launch,
        }
    }

    fn env() -> Vec<(String, String)> {
        vec![("HIVE_AGENT".into(), "a b".into())]
    }

    #[test]
    fn local_runs_the_command_as_is() {
        let (v, set_env) = argv(&spec(LaunchSpec::Local), &env(), "c");
        assert_eq!(v, ["python3", "agent.py", "it's"]);
        assert!(set_env);
    }

    #[test]
    fn ssh_quotes_a_remote_command_that_carries_the_environment() {
        let launch = LaunchSpec::Ssh { host: "u@box".into(), args: vec!["-p".into(), "2222".into()] };
        let (v, set_env) = argv(&spec(launch), &env(), "c");
        assert_eq!(&v[..5], ["ssh", "-p", "2222", "u@box", "--"]);
        assert_eq!(v[5], r#"env 'HIVE_AGENT=a b' python3 agent.py "it's""#);
        assert_eq!(shlex::split(&v[5]).unwrap(), ["env", "HIVE_AGENT=a b", "python3", "agent.py", "it's"]);
        assert!(!set_env);
    }

    #[test]
    fn bwrap_uses_a_default_sandbox_with_the_cwd_writable() {
        let (v, _) = argv(&spec(LaunchSpec::Bwrap { args: vec![] }), &env(), "c");
        assert_eq!(v[0], "bwrap");
        assert!(v.windows(3).any(|w| w == ["--bind", "/work", "/work"]));
        let dash = v.iter().position(|a| a == "--").unwrap();
        assert_eq!(&v[dash + 1..], ["python3", "agent.py", "it's"]);
        let (v, _) = argv(&spec(LaunchSpec::Bwrap { args: vec!["--unshare-net".into()] }), &env(), "c");
        assert_eq!(v, ["bwrap", "--unshare-net", "--", "python3", "agent.py", "it's"]);
    }

    #[test]
    fn docker_runs_interactive_removed_container_with_env() {
        let launch = LaunchSpec::Docker { image: "agent:latest".into(), args: vec!["--network=none".into()] };
        let (v, set_env) = argv(&spec(launch), &env(), "hive-s-a");
        assert_eq!(
            v,
            [
                "docker",
                "run",
                "-i",
                "--rm",
                "--init",
                "--name",
                "hive-s-a",
                "-e",
                "HIVE_AGENT=a b",
                "--network=none",
                "agent:latest",
                "python3",
                "agent.py",
                "it's"
            ]
        );
        assert!(!set_env);
    }
}

use super::*;

/// One value of every variant: adding a variant without listing its
/// type word in `TYPES` fails here.
fn one_of_each() -> Vec<EventKind> {
    use EventKind::*;
    let s: Arc<str> = "x".into();
    vec![
        SwarmStarted { agents: 1, objects: 0 },
        SwarmStopped { reason: "r".into() },
        SwarmFailed { reason: "r".into() },
        AgentAdded { backend: "mock", group: None },
        AgentRemoved,
        AgentStarted { incarnation: 0 },
        AgentExited { reason: "r".into(), restarting: true },
        AgentStopped,
        AgentRestarted { restarts: 1 },
        AgentStatus { state: "idle" },
        GroupScaled { group: s.clone(), from: 0, to: 1 },
        ObjectAdded { kind: s.clone() },
        ObjectRemoved,
        ObjectConfigured,
        ObjectExited { reason: "r".into(), restarting: false },
        ObjectStopped,
        ObjectRestarted { restarts: 1 },
        SupervisorGaveUp { supervisor: "agents", reason: "r".into() },
        MessageRouted { from: s.clone(), to: s.clone(), content: s.clone() },
        MessageBroadcast { from: s.clone(), recipients: 2 },
        RouteDenied { from: s.clone(), to: s.clone(), reason: "r".into() },
        ObjectReplied { to: s.clone(), ok: true },
        TopologyChanged { added: vec![], removed: vec![] },
        TaskQueued { task_id: s.clone(), from: s.clone() },
        TaskStarted { task_id: s.clone() },
        TaskCompleted { task_id: s.clone() },
        TaskFailed { task_id: s.clone(), code: "c".into(), message: "m".into() },
        TaskCancelled { task_id: s.clone() },
        AgentOutput { task_id: None, output: OutputKind::Raw, content: "c".into() },
        Log { level: Level::Warning, message: "m".into() },
        WorkerConnected { capabilities: vec!["x".into()], slots: 1 },
        WorkerDisconnected { reason: "r".into(), requeued: 0 },
        WorkerRejected { reason: "r".into() },
        WorkerMaintenance { accepting: false },
        FrameRejected { reason: "r".into() },
        AccessDenied {
            token: s.clone(),
            role: crate::access::Role::Viewer,
            needed: crate::access::Role::Admin,
            route: "POST /api/swarms".into(),
            address: "10.0.0.1".into(),
        },
        TaskRequeued { task_id: s.clone(), attempt: 1 },
        ResultIgnored { task_id: s.clone(), reason: "r".into() },
        ScheduleFired { schedule: s.clone(), task_id: s.clone(), tick_ms: 0, caught_up: 0 },
        ScheduleSkipped { schedule: s.clone(), tick_ms: 0, missed: 1, reason: "r".into() },
        ScheduleFailed { schedule: s.clone(), tick_ms: 0, error: "e".into() },
    ]
}

#[test]
fn types_lists_exactly_the_event_type_of_every_variant() {
    let mut words: Vec<&str> = one_of_each().iter().map(|k| k.event_type()).collect();
    words.sort();
    let mut listed = EventKind::TYPES.to_vec();
    listed.sort();
    assert_eq!(words, listed);
}

#[test]
fn long_content_previews_are_cut_on_a_char_boundary() {
    let content: Arc<str> = "é".repeat(300).into();
    let k = EventKind::MessageRouted { from: "a".into(), to: "b".into(), content };
    let p = k.metadata()["content_preview"].as_str().unwrap().to_string();
    assert!(p.len() <= 200 && p.chars().all(|c| c == 'é'));
}

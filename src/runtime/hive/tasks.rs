//! The tasks handle: every task's record, whatever its transport, from the
//! store when the runtime has one, else from the task book's memory; its
//! end, awaited; and its cancel, routed by its recorded transport. The
//! `_for` forms answer a caller ([`Principal`]): an admin sees every task,
//! anyone else only those its token submitted (another's is "not found").

use super::{Hive, blocking};
use crate::access::Principal;
use crate::error::HiveError;
use crate::task::{TaskEnd, TaskFilter, TaskOrder, TaskRecord, TaskSort, TaskStatus, Transport};

/// Longest a list waits for the store to have the tasks the book opened.
const SYNC_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The tasks of a runtime ([`Hive::tasks`]).
pub struct Tasks<'a>(pub(super) &'a Hive);

impl Tasks<'_> {
    /// One task's record: the book's while it holds the task (open, or
    /// ended recently: the freshest word, even before the store has it),
    /// else the store's.
    pub async fn get(&self, id: &str) -> Result<TaskRecord, HiveError> {
        let not_found = || HiveError::task(id);
        if let Some(r) = self.0.book.get(id) {
            return Ok(r);
        }
        let Some(store) = self.0.store()? else { return Err(not_found()) };
        let key = id.to_string();
        blocking(move || store.task(&key)).await?.ok_or_else(not_found)
    }

    /// One page of the tasks `filter` shows, in `order`: at most `limit`
    /// after skipping `offset`, and how many there are in all. Open tasks
    /// the book holds are shown as the book has them (their output so far,
    /// which the store never has). Memory is bounded by the page in
    /// creation order (by the book without a store). A list asked for
    /// after a task was opened shows it: the store's page is read once
    /// what the book handed the store before the call is written (waited
    /// for at most [`SYNC_WAIT`]).
    pub async fn page(
        &self,
        filter: TaskFilter,
        order: TaskOrder,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<TaskRecord>, usize), HiveError> {
        let Some(store) = self.0.store()? else { return Ok(self.0.book.page(&filter, order, offset, limit)) };
        let _ = tokio::time::timeout(SYNC_WAIT, self.0.book.synced()).await;
        let (mut page, total) = blocking(move || store.tasks_page(&filter, order, offset, limit)).await?;
        for r in page.iter_mut().filter(|r| !r.is_final()) {
            if let Some(fresh) = self.0.book.get(&r.id) {
                *r = fresh;
            }
        }
        Ok((page, total))
    }

    /// The tasks with one of `statuses` (all if empty), oldest first, as of
    /// this call (with a store: once it has what the book handed it, within
    /// `SYNC_WAIT`).
    pub async fn list(&self, statuses: &[TaskStatus]) -> Result<Vec<TaskRecord>, HiveError> {
        let Some(store) = self.0.store()? else {
            let filter = TaskFilter { statuses: statuses.to_vec(), ..Default::default() };
            let oldest = TaskOrder { by: TaskSort::CreatedAt, descending: false };
            return Ok(self.0.book.page(&filter, oldest, 0, usize::MAX).0);
        };
        // Read your writes: what the book handed the store before this call.
        let _ = tokio::time::timeout(SYNC_WAIT, self.0.book.synced()).await;
        let statuses = statuses.to_vec();
        blocking(move || store.tasks(&statuses)).await
    }

    /// Waits for a task's end (the book's, so only while it is open or
    /// still remembered).
    pub async fn wait(&self, id: &str) -> Result<TaskEnd, HiveError> {
        let follower = self.0.book.follow(id).ok_or_else(|| HiveError::task(id))?;
        follower.end().await.ok_or_else(|| HiveError::Unavailable("the runtime stopped before the task ended".into()))
    }

    /// Cancels a queued or running task, through the transport that runs
    /// it: `Conflict` if it has ended, `NotFound` if it is unknown.
    pub async fn cancel(&self, id: &str) -> Result<(), HiveError> {
        self.cancel_record(self.get(id).await?).await
    }

    /// [`get`](Self::get) as `who` may see it.
    pub async fn get_for(&self, id: &str, who: &Principal) -> Result<TaskRecord, HiveError> {
        let r = self.get(id).await?;
        if who.sees_all_tasks() || r.submitted_by.as_deref() == Some(&*who.name) {
            Ok(r)
        } else {
            Err(HiveError::task(id))
        }
    }

    /// [`page`](Self::page) of the tasks `who` may see.
    pub async fn page_for(
        &self,
        who: &Principal,
        mut filter: TaskFilter,
        order: TaskOrder,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<TaskRecord>, usize), HiveError> {
        if !who.sees_all_tasks() {
            filter.submitted_by = Some(who.name.to_string());
        }
        self.page(filter, order, offset, limit).await
    }

    /// [`cancel`](Self::cancel) of a task `who` may see.
    pub async fn cancel_for(&self, id: &str, who: &Principal) -> Result<(), HiveError> {
        self.cancel_record(self.get_for(id, who).await?).await
    }

    async fn cancel_record(&self, t: TaskRecord) -> Result<(), HiveError> {
        let id = t.id.as_str();
        if t.is_final() {
            return Err(HiveError::Conflict(format!("task {id} has already ended ({})", t.status)));
        }
        match t.transport() {
            Transport::Worker => self.0.workers().cancel(&t.target, id).await,
            Transport::Dispatch => self.0.gateway().cancel(id).await,
            Transport::Agent => self.0.swarms().get(&t.swarm).await?.cancel_task(&t.target, id).await,
        }
    }
}

"""Deploy through the /apis API (contract §11a): Grafana 12 (v1beta1) and 13 (v1).

Reading is one list request per page of dashboards (full specs, folder and
`grafana.app/updatedBy` annotations included) instead of one GET per dashboard,
so a deploy that changes nothing costs a handful of requests.

Grafana migrates a dashboard to schemaVersion 42 when it stores it through this
API (and converts older ones on read), so the live spec never equals what was
sent. A save therefore runs twice: first as a dry run (`?dryRun=All`: every step
of a save, the migration included, nothing stored), whose answer is the form
Grafana will store; its hash goes into the marker (`plan.with_stored_hash`), then
the real save. Later reads hash the live spec and compare it with the marker's
hashes, never with raw JSON. A dashboard deployed through the legacy API (stored
unmigrated, converted on read) is confirmed with one legacy GET, which returns it
as it was sent.

Imports `queuedash.grafana`, and `plan`, `store`, `apply` of this package.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterable

from queuedash.deploy.apply import run_parallel
from queuedash.deploy.plan import ADDED, Live, Step, content_hash, marker_of, normalize, with_stored_hash
from queuedash.deploy.store import FolderEvent, Reading, cannot_save, placement_note
from queuedash.grafana import errors
from queuedash.grafana.apis import (CREATED_BY_ANNOTATION, FOLDER_ANNOTATION, UPDATED_AT_ANNOTATION,
                                    UPDATED_BY_ANNOTATION, ApisClient, annotations_of)
from queuedash.grafana.client import GrafanaClient


def live_from_item(item: dict, *, version_from: str = "resourceVersion") -> Live:
    """A Live from a /apis dashboard object. `version_from`: the resourceVersion (what a /apis
    update sends back) or the generation (what a legacy save sends back on Grafana 13)."""
    metadata = item.get("metadata") if isinstance(item.get("metadata"), dict) else {}
    annotations = annotations_of(item)
    status = item.get("status") if isinstance(item.get("status"), dict) else {}
    conversion = status.get("conversion") if isinstance(status.get("conversion"), dict) else {}
    spec = item.get("spec") if isinstance(item.get("spec"), dict) else {}
    name = metadata.get("name")
    # The spec carries no uid (Grafana removes it on save); the name is the uid.
    dashboard = {**spec, "uid": name} if isinstance(name, str) else dict(spec)
    version = metadata.get(version_from)
    generation = metadata.get("generation")
    stored = conversion.get("storedVersion")
    return Live(
        dashboard=dashboard,
        version=version if isinstance(version, (str, int)) and not isinstance(version, bool) else None,
        folder_uid=str(annotations.get(FOLDER_ANNOTATION) or ""),
        updated_by=str(annotations.get(UPDATED_BY_ANNOTATION) or annotations.get(CREATED_BY_ANNOTATION) or ""),
        updated=str(annotations.get(UPDATED_AT_ANNOTATION) or metadata.get("creationTimestamp") or ""),
        stored_version=stored.rsplit("/", 1)[-1] if isinstance(stored, str) else "",
        label=f"generation {generation}" if isinstance(generation, int) else "",
    )


class ApisStore:
    """The /apis path: dashboards and folders of the organisation's namespace."""

    name = "apis"

    def __init__(self, client: GrafanaClient, apis: ApisClient):
        self.client = client
        self.apis = apis
        self._listed: dict[str, dict] | None = None
        self._listing: Future | None = None

    def describe(self) -> str:
        return (f"/apis (dashboard.grafana.app/{self.apis.dashboard_version}, "
                f"folder.grafana.app/{self.apis.folder_version}, namespace {self.apis.namespace})")

    # ----- folders ---------------------------------------------------------------------------

    def ensure_folders(self, chain: list[tuple[str, str]], *, create: bool = True,
                       need_write: bool = True) -> list[FolderEvent]:
        events: list[FolderEvent] = []
        parent = ""
        for uid, title in chain:
            found = self.apis.get_folder(uid)
            if found is None and not create:
                events.append(FolderEvent(uid, title, "missing", "would be created"))
                parent = uid
                continue
            if found is None:
                self._create_folder(uid, title, parent)
                events.append(FolderEvent(uid, title, "created", f"inside {parent!r}" if parent else ""))
            else:
                actual = annotations_of(found).get(FOLDER_ANNOTATION, "")
                events.append(FolderEvent(uid, title, "exists", placement_note(actual, parent)))
            if need_write and self.apis.folder_access(uid).get("canSave") is False:
                spec = (found or {}).get("spec") if isinstance((found or {}).get("spec"), dict) else {}
                raise cannot_save(uid, str(spec.get("title") or title))
            parent = uid
        return events

    def folder_exists(self, uid: str) -> bool:
        return self.apis.get_folder(uid) is not None

    def _create_folder(self, uid: str, title: str, parent: str) -> None:
        try:
            self.apis.create_folder(uid, title, parent)
        except errors.AlreadyExists:
            if self.apis.get_folder(uid) is None:  # not a race with another deploy: the uid is taken
                raise errors.FolderError(f"cannot create folder {uid!r}: the uid is taken; choose another "
                                         "[grafana] folder_uid") from None
        except errors.Rejected as exc:
            where = f" inside folder {parent!r}" if parent else ""
            raise errors.FolderError(f"cannot create folder {uid!r} ({title}){where}: {exc}") from None

    # ----- reading ---------------------------------------------------------------------------

    def read_ahead(self) -> None:
        """Start listing the dashboards now, on a thread of its own, so the list pages (the bulk
        of what a deploy reads) travel while the data source and the folders are checked."""
        if self._listing is None and self._listed is None:
            self._listing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="queuedash-list").submit(
                self.apis.list_dashboards)

    def _items(self) -> dict[str, dict]:
        """Every dashboard of the namespace, listed once per run (one request per page)."""
        if self._listed is None:
            items = self._listing.result() if self._listing is not None else self.apis.list_dashboards()
            self._listing = None
            self._listed = {item["metadata"]["name"]: item for item in items
                            if isinstance(item.get("metadata"), dict)
                            and isinstance(item["metadata"].get("name"), str)}
        return self._listed

    def read(self, uids: Iterable[str], *, jobs: int,
             on_done: Callable[[Reading], None] | None = None) -> list[Reading]:
        items = self._items()
        readings = [Reading(uid, live_from_item(items[uid]) if uid in items else None) for uid in uids]
        # Once the client is stopping (Ctrl-C), the dashboards not confirmed yet are left out.
        return [reading for reading in run_parallel(readings, self._confirmed, jobs, on_done,
                                                    stop=self.client.stopping) if reading]

    def reread(self, uid: str) -> Reading:
        try:
            item = self.apis.get_dashboard(uid)
        except errors.GrafanaError as exc:
            return Reading(uid, error=f"cannot read it: {exc}")
        return self._confirmed(Reading(uid, live_from_item(item) if item is not None else None))

    def leftovers(self, folder_uid: str, wanted: set[str], *, jobs: int) -> list[Reading]:
        """The list reads storage, not a search index: what it says is in the folder is."""
        uids = sorted(uid for uid, item in self._items().items()
                      if uid not in wanted and annotations_of(item).get(FOLDER_ANNOTATION, "") == folder_uid)
        return self.read(uids, jobs=jobs)

    def _confirmed(self, reading: Reading) -> Reading:
        """A dashboard carrying queuedash's marker whose live spec hashes to none of the marker's
        hashes, and that Grafana converted on read from a version it stores unmigrated
        (deployed through the legacy API), is read once more through the legacy API, which
        returns it as it was sent: only then can its hash say whether a person changed it."""
        live = reading.live
        if live is None or live.stored_as_v2 or live.stored_version in ("", self.apis.dashboard_version):
            return reading
        recorded = marker_of(live.dashboard)
        if recorded is None or content_hash(normalize(live.dashboard)) in recorded.hashes:
            return reading
        try:
            answer = self.client.get_dashboard(reading.uid)
        except errors.GrafanaError:
            return reading  # cannot confirm: the plan sees a changed dashboard, a conflict
        if answer is None:
            return reading
        original = Live.from_answer(answer).dashboard
        return Reading(reading.uid, Live(original, live.version, live.folder_uid, live.updated_by, live.updated,
                                         live.stored_version, live.label))

    # ----- writing ---------------------------------------------------------------------------

    def save(self, step: Step, folder_uid: str, message: str) -> str:
        assert step.payload is not None
        creating = step.base_version is None
        version = None if creating else str(step.base_version)

        def send(payload: dict, dry_run: bool) -> dict:
            body = self.apis.dashboard_object(step.uid, payload, folder_uid=folder_uid, message=message,
                                              resource_version=version)
            if creating:
                return self.apis.create_dashboard(body, dry_run=dry_run)
            return self.apis.update_dashboard(step.uid, body, dry_run=dry_run)

        rehearsed = live_from_item(send(step.payload, dry_run=True))
        stored = content_hash(normalize(rehearsed.dashboard))
        payload = step.payload if stored == step.marker else with_stored_hash(step.payload, stored)
        saved = live_from_item(send(payload, dry_run=False))
        now = saved.label or "saved"
        if step.action == ADDED or creating:
            return now
        return f"{step.base_label} -> {now.split()[-1]}" if step.base_label else now

    def delete(self, uid: str) -> None:
        self.apis.delete_dashboard(uid)

"""Deploy through the legacy `/api` endpoints (contract §3-§6): Grafana 10.4 to 13.

Folders with `GET/POST /api/folders`, dashboards read one by one with
`GET /api/dashboards/uid/:uid`, saved with `POST /api/dashboards/db` (the live
`version`, never `overwrite`), deleted by uid.

What Grafana 12 and 13 changed (§11a), handled here:

* a dashboard a person saved as a dynamic dashboard (schema v2) answers 406 (or,
  in newer builds, `meta.apiVersion` "v2..."): when the server serves /apis it is
  read there, for its converted spec, who saved it and when, and its generation
  (the `version` a legacy save sends back); it becomes a conflict in the plan;
* `/api/search` reads an index that lags writes: the dashboards left in the
  folder are taken from the search and, where the server serves it, from the
  /apis list (which reads storage), then each is confirmed by its uid.

Imports `queuedash.grafana`, and `plan`, `store`, `apis` of this package.
"""

from __future__ import annotations

import logging
from typing import Callable, Iterable

from queuedash.deploy.apis import live_from_item
from queuedash.deploy.apply import run_parallel
from queuedash.deploy.plan import ADDED, Live, Step
from queuedash.deploy.store import FolderEvent, Reading, cannot_save, placement_note
from queuedash.grafana import errors
from queuedash.grafana.apis import FOLDER_ANNOTATION, ApisClient, annotations_of
from queuedash.grafana.client import GrafanaClient

log = logging.getLogger("queuedash.deploy")


class LegacyStore:
    """The legacy `/api` path. `apis`, when the server serves /apis, reads what the legacy
    API cannot (dynamic dashboards) and lists the folder without the search's lag."""

    name = "legacy"

    def __init__(self, client: GrafanaClient, apis: ApisClient | None = None):
        self.client = client
        self.apis = apis

    def describe(self) -> str:
        return "the legacy /api"

    # ----- folders ---------------------------------------------------------------------------

    def ensure_folders(self, chain: list[tuple[str, str]], *, create: bool = True,
                       need_write: bool = True) -> list[FolderEvent]:
        """§13 "Ensure folder": GET by uid, create on 404, each inside the previous one."""
        events: list[FolderEvent] = []
        parent = ""
        for uid, title in chain:
            found = self.client.get_folder(uid)
            if found is None and not create:
                events.append(FolderEvent(uid, title, "missing", "would be created"))
                parent = uid
                continue
            if found is None:
                found = self._create_folder(uid, title, parent)
                events.append(FolderEvent(uid, title, "created", f"inside {parent!r}" if parent else ""))
            else:
                events.append(FolderEvent(uid, title, "exists", placement_note(found.get("parentUid"), parent,
                                                                               "parentUid" in found)))
            if need_write and found.get("canSave") is False:
                # §5.2: the folder DTO says what the caller may do; a Viewer cannot save into it.
                raise cannot_save(uid, found.get("title", title))
            parent = uid
        return events

    def folder_exists(self, uid: str) -> bool:
        return self.client.get_folder(uid) is not None

    def _create_folder(self, uid: str, title: str, parent: str) -> dict:
        try:
            return self.client.create_folder(uid, title, parent)
        except errors.AlreadyExists:
            # §5.4/§13: 409 = the uid is taken. Another deploy may have just created it (a race):
            # read it again. If it is still not a folder, a dashboard holds the uid, or (<= 11.2)
            # another folder has the title.
            found = self.client.get_folder(uid)
            if found is not None:
                return found
            raise errors.FolderError(self._taken_explanation(uid, title)) from None
        except errors.Rejected as exc:
            where = f" inside folder {parent!r}" if parent else ""
            raise errors.FolderError(f"cannot create folder {uid!r} ({title}){where}: {exc}") from None

    def _taken_explanation(self, uid: str, title: str) -> str:
        same_title = [hit for hit in self.client.search_folders(title)
                      if str(hit.get("title", "")).lower() == title.lower()]
        if same_title:
            other = same_title[0].get("uid")
            return (f"cannot create folder {uid!r}: a folder titled {title!r} already exists with uid {other!r} "
                    f"(Grafana up to 11.2 wants unique folder titles); set [grafana] folder_uid to {other!r} "
                    "or choose another folder_title")
        return f"cannot create folder {uid!r}: a dashboard already uses that uid; choose another [grafana] folder_uid"

    # ----- reading ---------------------------------------------------------------------------

    def read_ahead(self) -> None:
        """Nothing to read ahead: each dashboard is its own request."""

    def read(self, uids: Iterable[str], *, jobs: int,
             on_done: Callable[[Reading], None] | None = None) -> list[Reading]:
        """GET each dashboard (§4.1); absent ones read as None, failures as an error text.
        Once the client is stopping (Ctrl-C), the dashboards not read yet are left out."""
        return [reading for reading in run_parallel(uids, self.reread, jobs, on_done, stop=self.client.stopping)
                if reading]

    def reread(self, uid: str) -> Reading:
        try:
            answer = self.client.get_dashboard(uid)
        except errors.UnsupportedApiVersion:
            return self._read_dynamic(uid)
        except errors.GrafanaError as exc:
            return Reading(uid, error=f"cannot read it: {exc}")
        if answer is None:
            return Reading(uid)
        live = Live.from_answer(answer)
        if live.stored_as_v2 and self.apis is not None:
            return self._read_dynamic(uid)  # a newer handler converted it: /apis says who and when
        return Reading(uid, live)

    def _read_dynamic(self, uid: str) -> Reading:
        """A dynamic dashboard (§11a: 406 on the legacy GET). Its generation is the `version`
        a legacy save must send back to replace it."""
        if self.apis is None:
            return Reading(uid, Live({}, None, None, stored_version="v2"))
        try:
            item = self.apis.get_dashboard(uid)
        except errors.GrafanaError as exc:
            return Reading(uid, error=f"stored as a dynamic dashboard (schema v2), and /apis could not read it: {exc}")
        if item is None:
            return Reading(uid)
        live = live_from_item(item, version_from="generation")
        if not live.stored_as_v2:  # the legacy API answered 406: it is v2, whatever the conversion says
            live = Live(live.dashboard, live.version, live.folder_uid, live.updated_by, live.updated, "v2")
        return Reading(uid, live)

    def leftovers(self, folder_uid: str, wanted: set[str], *, jobs: int) -> list[Reading]:
        """Search hits in the folder, plus the /apis list's (search lags writes, §11a), each
        read by uid: only dashboards that exist and are in the folder count."""
        candidates = {hit["uid"] for hit in self.client.dashboards_in_folder(folder_uid)
                      if isinstance(hit.get("uid"), str)}
        candidates |= self._listed_in(folder_uid)
        readings = self.read(sorted(candidates - wanted), jobs=jobs)
        return [r for r in readings
                if r.error or (r.live is not None and r.live.folder_uid in (None, folder_uid))]

    def _listed_in(self, folder_uid: str) -> set[str]:
        if self.apis is None:
            return set()
        try:
            items = self.apis.list_dashboards()
        except errors.Interrupted:
            raise
        except errors.GrafanaError as exc:
            log.warning("the /apis list failed (%s); dashboards left in the folder come from search alone", exc)
            return set()
        return {item["metadata"]["name"] for item in items
                if isinstance(item.get("metadata"), dict) and isinstance(item["metadata"].get("name"), str)
                and annotations_of(item).get(FOLDER_ANNOTATION, "") == folder_uid}

    # ----- writing ---------------------------------------------------------------------------

    def save(self, step: Step, folder_uid: str, message: str) -> str:
        assert step.payload is not None
        body = step.payload if step.base_version is None else dict(step.payload, version=step.base_version)
        answer = self.client.save_dashboard(body, folder_uid, message, overwrite=False)
        saved_uid = answer.get("uid")
        if saved_uid not in (None, step.uid):
            # §13: trust the answer's uid. Only an overwrite can take over another uid (<= 11.2),
            # and deploy never overwrites, so this is a Grafana we do not understand.
            raise errors.Rejected(f"Grafana saved it under the uid {saved_uid!r}")
        version = answer.get("version")  # §13: read from the answer, never computed
        if step.action == ADDED:
            return f"version {version}" if isinstance(version, int) else "new"
        return f"version {step.base_version} -> {version}"

    def delete(self, uid: str) -> None:
        self.client.delete_dashboard(uid)

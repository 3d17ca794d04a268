"""Seed the embedded demo: units, officers, a synthetic registry and a wanted handbook with photos.

    python manage.py seed_demo [--persons 35000] [--seed 20250701] [--force] [--no-faces]

Idempotent: a database that already holds synthetic persons is left alone (units and officers are
brought up to date); `--force` tombstones and deletes the synthetic registry, then rebuilds it.
Every record is written through the sync engine (SyncRows staged by a SyncWriter), one sync
transaction per chunk of persons, so an initial pull pages on chunk boundaries.

Demo officers all have the password `fieldsync-demo` — demo data only, never in production.
"""

from __future__ import annotations

import gc
import hashlib
import json
import random
import time
import unicodedata
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandParser
from django.db import connection, transaction

from backend.accounts.management.commands.demo_officers import DEMO_GROUP, DEMO_PASSWORD
from backend.accounts.models import Jurisdiction, Officer, Role, Unit, UnitKind
from backend.core.progress import progress_bar
from backend.registry import sync_tables as st
from backend.registry.bulk import bulk_insert
from backend.registry.models import (
    Check,
    CriminalRecord,
    DrugUseRecord,
    Person,
    PhotoKind,
    PhotoLink,
    Residence,
    WantedCategory,
    WantedNotice,
    WantedStatus,
    WantedType,
)
from backend.registry.seeding import SeedMapper
from backend.registry.synthetic import COMMUNES, Commune, generate_province
from media_store.services import photo_ingest_bytes
from sync.writer import SyncWriter, sync_transaction

JURISDICTION_START = date(2025, 7, 1)
DEFAULT_SEED = 20250701
CHUNK_PERSONS = 1000
HQ_CODE = "CA-LS"
ADMIN_USERNAMES = ("admin", "auditor")


def _slug(text: str) -> str:
    """ASCII login-name slug: "Kỳ Lừa" -> "kylua", "Đồng Đăng" -> "dongdang"."""
    decomposed = unicodedata.normalize("NFD", text.casefold().replace("đ", "d"))
    return "".join(ch for ch in decomposed if ch.isascii() and ch.isalnum())


@dataclass(frozen=True)
class DemoUnit:
    code: str
    name: str
    kind: UnitKind
    communes: tuple[str, ...]
    officer_username: str
    officer_role: Role
    officer_name: str


def demo_units(communes: Sequence[Commune]) -> list[DemoUnit]:
    """Provincial HQ (province-wide), one border post per gate, and a handful of commune posts."""
    all_codes = tuple(sorted(c.code for c in communes))
    units = [
        DemoUnit(
            code=HQ_CODE,
            name="Công an tỉnh Lạng Sơn",
            kind=UnitKind.PROVINCIAL_HQ,
            communes=all_codes,
            officer_username="patrol.hq",
            officer_role=Role.PATROL_OFFICER,
            officer_name="Cán bộ trực ban tỉnh (demo)",
        )
    ]
    for gate, codes in sorted(border_gate_communes(communes).items()):
        slug = _slug(gate.removeprefix("ga "))
        units.append(
            DemoUnit(
                code=f"BP-{slug.upper()}",
                name=f"Trạm kiểm soát {gate}" if not gate.startswith("ga ") else f"Đồn công an {gate}",
                kind=UnitKind.BORDER_CHECKPOINT,
                communes=codes,
                officer_username=f"patrol.{slug}",
                officer_role=Role.PATROL_OFFICER,
                officer_name=f"Cán bộ tuần tra {gate} (demo)",
            )
        )
    for commune in _commune_posts(communes):
        slug = _slug(commune.name)
        units.append(
            DemoUnit(
                code=f"CX-{commune.code}",
                name=f"Công an {commune.label}",
                kind=UnitKind.COMMUNE_POST,
                communes=(commune.code,),
                officer_username=f"community.{slug}",
                officer_role=Role.COMMUNITY_OFFICER,
                officer_name=f"Cảnh sát khu vực {commune.name} (demo)",
            )
        )
    return units


def border_gate_communes(communes: Sequence[Commune]) -> dict[str, tuple[str, ...]]:
    """Each border gate with the border communes around it.

    A gate covers the communes it lies in, plus every border commune without a gate whose code is
    nearest to one of them (commune codes follow the old districts, so near codes are neighbours;
    a demo approximation, not a map).
    """
    gate_communes: dict[str, set[str]] = {}
    for commune in communes:
        for part in (commune.border_gate or "").split(";"):
            gate = part.split("(")[0].strip()
            if gate:
                gate_communes.setdefault(gate, set()).add(commune.code)
    with_gate = sorted({code for codes in gate_communes.values() for code in codes})
    for commune in communes:
        if commune.is_border and not commune.border_gate and with_gate:
            nearest = min(with_gate, key=lambda code: (abs(int(code) - int(commune.code)), code))
            for codes in gate_communes.values():
                if nearest in codes:
                    codes.add(commune.code)
    return {gate: tuple(sorted(codes)) for gate, codes in gate_communes.items()}


def _commune_posts(communes: Sequence[Commune], count: int = 7) -> list[Commune]:
    """Wards first, then communes with a border gate, then the rest: a small, varied set of posts."""
    ranked = sorted(communes, key=lambda c: (c.kind != "ward", c.border_gate is None, not c.is_border, c.code))
    return ranked[:count]


class Command(BaseCommand):
    help = "Seed units, demo officers, a synthetic registry of persons and the demo wanted handbook."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--persons", type=int, default=35_000)
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
        parser.add_argument("--force", action="store_true", help="delete the synthetic registry and rebuild it")
        parser.add_argument("--no-faces", action="store_true", help="skip the wanted-handbook photos")
        parser.add_argument("--quiet-progress", action="store_true", help="no progress bars")

    def handle(self, *args: Any, **options: Any) -> None:
        self.progress = not options["quiet_progress"]
        started = time.perf_counter()
        units = self._units_and_officers()
        if Person.objects.filter(is_synthetic=True).exists():
            if not options["force"]:
                self.stdout.write("Demo data already seeded (use --force to rebuild).")
                if not options["no_faces"]:
                    self._face_gallery()
                return
            self._remove_synthetic()
        province = generate_province(person_count=options["persons"], seed=options["seed"])
        generated = time.perf_counter()
        counts = self._load_registry(province)
        loaded = time.perf_counter()
        faces = 0
        if not options["no_faces"]:
            faces = self._wanted_handbook_photos(seed=options["seed"])
            self._face_gallery()
        self.stdout.write(
            f"Seeded {len(units)} units, {counts['persons']} persons, {counts['residences']} residences, "
            f"{counts['criminal_records']} criminal records, {counts['drug_use_records']} drug-use records, "
            f"{counts['wanted_notices']} wanted notices, {faces} handbook photos. "
            f"generate {generated - started:.1f}s, load {loaded - generated:.1f}s, "
            f"total {time.perf_counter() - started:.1f}s."
        )

    def _face_gallery(self) -> None:
        """Enrol the handbook photos into the face gallery (idempotent; only new photos are encoded)."""
        from backend.faces.gallery import gallery_sync_from_registry

        started = time.perf_counter()
        with progress_bar(desc="face gallery", unit="photo", disable=not self.progress) as bar:
            outcome = gallery_sync_from_registry(progress=bar.update)
        self.stdout.write(
            f"Face gallery v{outcome.version}: {outcome.enrolled_count} enrolled, {outcome.failed_count} failed "
            f"to enrol, {outcome.deactivated_count} retired, {time.perf_counter() - started:.1f}s."
        )

    # --- units and officers ------------------------------------------------------------------

    def _units_and_officers(self) -> list[Unit]:
        group, _ = Group.objects.get_or_create(name=DEMO_GROUP)
        units: list[Unit] = []
        with transaction.atomic():
            for spec in demo_units(COMMUNES):
                unit, _ = Unit.objects.update_or_create(
                    code=spec.code,
                    defaults={
                        "name": spec.name,
                        "kind": spec.kind,
                        "is_province_wide": spec.kind == UnitKind.PROVINCIAL_HQ,
                    },
                )
                for code in spec.communes:
                    Jurisdiction.objects.get_or_create(unit=unit, commune_code=code, valid_from=JURISDICTION_START)
                self._officer(
                    username=spec.officer_username,
                    role=spec.officer_role,
                    unit=unit,
                    name=spec.officer_name,
                    group=group,
                )
                units.append(unit)
            hq = units[0]
            self._officer(username="admin", role=Role.SYNC_ADMIN, unit=hq, name="Quản trị đồng bộ (demo)", group=group)
            self._officer(username="auditor", role=Role.AUDITOR, unit=hq, name="Thanh tra (demo)", group=group)
        return units

    def _officer(self, *, username: str, role: Role, unit: Unit, name: str, group: Group) -> Officer:
        officer = Officer.objects.filter(username=username).first()
        if officer is None:
            officer = Officer(username=username)
            officer.set_password(DEMO_PASSWORD)
        officer.role = role
        officer.unit = unit
        officer.display_name = name
        officer.is_staff = role in (Role.SYNC_ADMIN, Role.AUDITOR)
        officer.is_superuser = role == Role.SYNC_ADMIN
        officer.save()
        officer.groups.add(group)
        return officer

    # --- registry ----------------------------------------------------------------------------

    def _bar(self, total: int, desc: str) -> Any:
        return progress_bar(total=total, desc=desc, unit="rec", disable=not self.progress, leave=False)

    def _load_registry(self, province: Any) -> dict[str, int]:
        mapper = SeedMapper(province)
        # Hundreds of thousands of long-lived objects make every cyclic-GC pass slower (measured: the
        # load went superlinear, 35k persons in 69 s). Nothing here creates cycles worth collecting.
        gc.collect()
        gc.freeze()
        if connection.vendor == "sqlite":
            # Random-UUID index inserts thrash SQLite's default 2 MB page cache (measured: 35k persons
            # took 74 s instead of 30 s). 256 MB for this connection only.
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA cache_size = -262144")
        counts = dict.fromkeys(st.SERIALIZERS, 0)
        persons = mapper.persons
        # One outer transaction: all or nothing. Each chunk is its own sync transaction (own seq).
        with transaction.atomic(), self._bar(len(persons), "persons") as bar:
            for start in range(0, len(persons), CHUNK_PERSONS):
                chunk = persons[start : start + CHUNK_PERSONS]
                for table, count in mapper.write_chunk(chunk).items():
                    counts[table] += count
                bar.update(len(chunk))
        gc.unfreeze()
        # Planner statistics for the freshly loaded tables. Without them a page of an initial sync
        # is read by sorting the whole rest of the scope (SQLite never gathers statistics itself;
        # PostgreSQL only once autovacuum gets round to it). Measured with bench/sync_initial_pull.py,
        # 35,000 persons: 11-21 s on SQLite, 23 s on PostgreSQL, instead of a few seconds.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        return counts

    def _remove_synthetic(self) -> None:
        """Tombstone (so devices delete them) and remove every synthetic record, chunk by chunk."""
        person_ids = list(Person.objects.filter(is_synthetic=True).values_list("id", flat=True))
        notices = list(WantedNotice.objects.filter(is_synthetic=True).values_list("id", flat=True))
        with transaction.atomic(), self._bar(len(person_ids), "removing") as bar:
            with sync_transaction() as writer:
                photo_ids = list(
                    PhotoLink.objects.filter(
                        record_table=st.WANTED_NOTICES, record_id__in=[str(n) for n in notices]
                    ).values_list("id", flat=True)
                )
                _tombstone(writer, st.PHOTOS, photo_ids)
                _tombstone(writer, st.WANTED_NOTICES, notices)
                PhotoLink.objects.filter(id__in=photo_ids).delete()
                WantedNotice.objects.filter(id__in=notices).delete()
            for start in range(0, len(person_ids), CHUNK_PERSONS):
                chunk = person_ids[start : start + CHUNK_PERSONS]
                with sync_transaction() as writer:
                    for model, table in (
                        (Residence, st.RESIDENCES),
                        (CriminalRecord, st.CRIMINAL_RECORDS),
                        (DrugUseRecord, st.DRUG_USE_RECORDS),
                        (WantedNotice, st.WANTED_NOTICES),
                    ):
                        ids = list(model._default_manager.filter(person_id__in=chunk).values_list("id", flat=True))
                        _tombstone(writer, table, ids)
                        model._default_manager.filter(id__in=ids).delete()
                    person_photos = list(
                        PhotoLink.objects.filter(
                            record_table=st.PERSONS, record_id__in=[str(p) for p in chunk]
                        ).values_list("id", flat=True)
                    )
                    _tombstone(writer, st.PHOTOS, person_photos)
                    PhotoLink.objects.filter(id__in=person_photos).delete()
                    Check.objects.filter(person_id__in=chunk).update(person=None)
                    _tombstone(writer, st.PERSONS, chunk)
                    Person.objects.filter(id__in=chunk).delete()
                bar.update(len(chunk))

    # --- wanted handbook photos ----------------------------------------------------------------

    def _wanted_handbook_photos(self, *, seed: int) -> int:
        """For each face identity with >= 2 photos: a wanted notice on a synthetic person, with the
        identity's first photo (sorted) as its handbook photo. The others are probes for `simulate`.

        The folder's names never reach the database: the notice carries the synthetic person's
        identity. The map of probes goes to var/demo_faces.json (ops data, outside the repo).
        """
        folder = Path(settings.FIELDSYNC_SHARED_FACES_DIR)
        if not folder.is_dir():
            self.stdout.write(f"No face photos at {folder}: the handbook has no photos.")
            return 0
        identities = []
        for directory in sorted(p for p in folder.iterdir() if p.is_dir()):
            photos = sorted(p for p in directory.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
            if len(photos) >= 2:
                identities.append(photos)
        already = set(
            PhotoLink.objects.filter(record_table=st.WANTED_NOTICES, kind=PhotoKind.HANDBOOK).values_list(
                "sha256", flat=True
            )
        )
        rng = random.Random(seed)
        taken = set(WantedNotice.objects.filter(person__isnull=False).values_list("person_id", flat=True))
        candidates = [
            p for p in Person.objects.filter(is_synthetic=True).values_list("id", flat=True) if p not in taken
        ]
        rng.shuffle(candidates)
        face_map: dict[str, dict[str, Any]] = {}
        created = 0
        # Reading and storing image bytes is slow I/O: done before, not inside, each short transaction.
        for photos, person_id in progress_bar(
            list(zip(identities, candidates, strict=False)), desc="handbook photos", disable=not self.progress
        ):
            data = photos[0].read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            if digest in already:
                continue
            photo_ingest_bytes(data=data, source="demo_handbook")
            notice = _notice_with_photo(person_id=person_id, sha256=digest, rng=rng)
            face_map[str(notice.id)] = {
                "enrolled": str(photos[0]),
                "unused_probes": [str(p) for p in photos[1:]],
            }
            created += 1
        if face_map:
            _merge_face_map(face_map)
        return created


def _tombstone(writer: SyncWriter, table: str, ids: Iterable[Any]) -> None:
    for record_id in ids:
        writer.stage(table=table, record_id=str(record_id), payload=None, scope_key="archived")


def _notice_with_photo(*, person_id: uuid.UUID, sha256: str, rng: random.Random) -> WantedNotice:
    from backend.registry.seeding import wanted_notice_for_person

    with sync_transaction() as writer:
        person = Person.objects.get(pk=person_id)
        notice = wanted_notice_for_person(
            person,
            rng=rng,
            category=rng.choice(list(WantedCategory)),
            wanted_type=WantedType.SPECIAL if rng.random() < 0.1 else WantedType.ORDINARY,
        )
        notice.status = WantedStatus.ACTIVE
        notice.photo_sha256 = [sha256]
        # A bulk insert sends no post_save, so the faces app queues no per-notice encoding job:
        # seed_demo enrols the whole handbook synchronously right after (`_face_gallery`).
        bulk_insert(WantedNotice, [notice])
        link = PhotoLink.objects.create(
            record_table=st.WANTED_NOTICES,
            record_id=str(notice.id),
            sha256=sha256,
            kind=PhotoKind.HANDBOOK,
            is_uploaded=st.photo_blob_is_stored(sha256=sha256),
        )
        scope = st.scope_of_wanted_notice(notice)
        writer.stage(
            table=st.WANTED_NOTICES,
            record_id=str(notice.id),
            payload=st.serialize_wanted_notice(notice),
            scope_key=scope,
        )
        writer.stage(table=st.PHOTOS, record_id=str(link.id), payload=st.serialize_photo(link), scope_key=scope)
    return notice


def _merge_face_map(new: dict[str, dict[str, Any]]) -> None:
    path = Path(settings.DATA_DIR) / "demo_faces.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    current: dict[str, Any] = {}
    if path.exists():
        current = json.loads(path.read_text())
    known = set(WantedNotice.objects.filter(id__in=list(current)).values_list("id", flat=True))
    current = {k: v for k, v in current.items() if uuid.UUID(k) in known}
    current.update(new)
    path.write_text(json.dumps(current, indent=1, ensure_ascii=False))

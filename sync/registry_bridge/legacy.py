"""The provincial registry's own schema (legacy style), as SQLAlchemy 2 Core metadata.

fieldsync does not own this database. The schema imitates an older system: upper-case Vietnamese
table and column names without diacritics, integer ids, dates as `dd/mm/yyyy` text (or `yyyy`
when only the year is known), text exactly as the old application stored it (some rows in TCVN3
mojibake, some addresses still carrying pre-2025 commune codes), soft deletes (`DA_XOA`).

Change tracking: every write to `DOI_TUONG` / `QD_TRUY_NA` takes the next value of the counter row
`HT_THAM_SO('SO_THAY_DOI')` *inside its transaction* (the counter row is updated first, so its row
lock serialises writers and commit order equals counter order) and stores it in the row's
`SO_THAY_DOI`. That counter is the bridge's watermark. The bridge plays the role of the old
application when it writes field edits back: it takes a counter value the same way and marks the
row `NGUOI_CAP_NHAT = 'FIELDSYNC'`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    select,
    update,
)

metadata = MetaData()

CHANGE_COUNTER = "SO_THAY_DOI"
WRITER_FIELDSYNC = "FIELDSYNC"

#: System parameters; one row per counter.
HT_THAM_SO = Table(
    "HT_THAM_SO",
    metadata,
    Column("TEN", String(40), primary_key=True),
    Column("GIA_TRI", BigInteger, nullable=False),
)

#: Persons with records (đối tượng).
DOI_TUONG = Table(
    "DOI_TUONG",
    metadata,
    Column("MA_DT", Integer, primary_key=True, autoincrement=False),
    Column("HO_TEN", String(200), nullable=False),
    Column("GIOI_TINH", String(3)),  # NAM / NU / blank
    Column("NGAY_SINH", String(10)),  # dd/mm/yyyy or yyyy
    Column("SO_DINH_DANH", String(20)),  # 12-digit personal ID number, as typed
    Column("SO_CMND", String(12)),  # old 9-digit ID card
    Column("DAN_TOC", String(40)),
    Column("QUE_QUAN", String(200)),
    Column("HO_TEN_CHA", String(200)),
    Column("HO_TEN_ME", String(200)),
    Column("DAC_DIEM_NHAN_DANG", Text),
    Column("GHI_CHU", Text),
    Column("TINH_TRANG_QL", String(32)),
    Column("MA_XA", String(5)),  # commune code: pre-2025 or 2025, see NGAY_HIEU_LUC_DC
    Column("DIA_CHI", String(400)),  # permanent address, as recorded
    Column("NGAY_HIEU_LUC_DC", String(10)),  # dd/mm/yyyy the address was registered
    Column("DA_XOA", Integer, nullable=False, default=0),
    Column("NGAY_CAP_NHAT", DateTime, nullable=False),
    Column("NGUOI_CAP_NHAT", String(40), nullable=False, default="TW"),
    Column(CHANGE_COUNTER, BigInteger, nullable=False),
    Index("IX_DOI_TUONG_SO_THAY_DOI", CHANGE_COUNTER),
)

#: Wanted decisions (quyết định truy nã).
QD_TRUY_NA = Table(
    "QD_TRUY_NA",
    metadata,
    Column("MA_QD", Integer, primary_key=True, autoincrement=False),
    Column("MA_DT", Integer, ForeignKey("DOI_TUONG.MA_DT")),
    Column("SO_QD", String(60), nullable=False),
    Column("NGAY_QD", String(10), nullable=False),
    Column("CO_QUAN_RA_QD", String(200)),
    Column("HO_TEN", String(200), nullable=False),
    Column("TOI_DANH", String(400)),  # "BLHS2015:251.1;BLHS2015:249.1"
    Column("LOAI_TN", String(24)),  # SUSPECT / DEFENDANT / CONVICT_ESCAPED
    Column("TRANG_THAI", String(12), nullable=False),  # DANG_TN / DINH_NA
    Column("SO_QD_DINH_NA", String(60)),
    Column("NGAY_DINH_NA", String(10)),
    Column("LY_DO_DINH_NA", String(24)),
    Column("NGAY_CAP_NHAT", DateTime, nullable=False),
    Column("NGUOI_CAP_NHAT", String(40), nullable=False, default="TW"),
    Column(CHANGE_COUNTER, BigInteger, nullable=False),
    Index("IX_QD_TRUY_NA_SO_THAY_DOI", CHANGE_COUNTER),
)

STATUS_ACTIVE, STATUS_RESCINDED = "DANG_TN", "DINH_NA"


def legacy_engine(url: str) -> Engine:
    """An engine for any SQLAlchemy URL; SQLite files get WAL and a busy timeout like ours."""
    if url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgres://")
    elif url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: object, connection_record: object) -> None:
            cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def legacy_schema_create(engine: Engine) -> None:
    """Create the tables and the change counter (idempotent)."""
    metadata.create_all(engine)
    with engine.begin() as connection:
        exists = connection.execute(select(HT_THAM_SO.c.TEN).where(HT_THAM_SO.c.TEN == CHANGE_COUNTER)).first()
        if exists is None:
            connection.execute(HT_THAM_SO.insert().values(TEN=CHANGE_COUNTER, GIA_TRI=0))


def next_change_seq(connection: Connection) -> int:
    """Take the next change-counter value inside the caller's transaction (locks the counter row)."""
    connection.execute(
        update(HT_THAM_SO).where(HT_THAM_SO.c.TEN == CHANGE_COUNTER).values(GIA_TRI=HT_THAM_SO.c.GIA_TRI + 1)
    )
    value = connection.execute(select(HT_THAM_SO.c.GIA_TRI).where(HT_THAM_SO.c.TEN == CHANGE_COUNTER)).scalar_one()
    return int(value)


def head_change_seq(connection: Connection) -> int:
    value = connection.execute(select(HT_THAM_SO.c.GIA_TRI).where(HT_THAM_SO.c.TEN == CHANGE_COUNTER)).scalar()
    return int(value or 0)


def legacy_now() -> datetime:
    """Legacy timestamps are naive local wall-clock values; we store UTC without tzinfo."""
    return datetime.now(UTC).replace(tzinfo=None)

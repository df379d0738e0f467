"""Software bills of materials of a bundle: CycloneDX 1.6 and SPDX 2.3, as JSON.

Everything comes from the bundle's manifest (and the bundle file's sha256, when known),
so ``conda bundle --sbom`` and ``conda unbundle BUNDLE --sbom`` write the same document
for the same bundle. Nothing random and no clock: the serial number and the document
namespace derive from the manifest and the bundle's sha256, the SPDX creation time from
the bundle's fixed file time.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from typing import TYPE_CHECKING, Any, BinaryIO

from .exceptions import EnvBundleError
from .formats import SBOM_SUFFIXES
from .sbomfields import (
    Refs,
    check_records,
    conda_purl,
    digest_of,
    file_name,
    pypi_purl,
    valid_text,
)

if TYPE_CHECKING:
    from .manifest import Manifest

SUFFIXES = SBOM_SUFFIXES
FORMATS = tuple(SUFFIXES)
TOOL = "conda-envbundle"
# uuid5 namespace of our serial numbers and document namespaces (a fixed, random uuid)
_NAMESPACE = uuid.UUID("6f1b2a0e-8d4c-5e39-9a71-3c0d2b9e4f58")
# a bundle made before the manifest's sbom key existed carries no time: the earliest
# time any bundle member can have (1980-01-01, the zip epoch) stands for "unknown"
_UNKNOWN_TIME = 315532800
_SPDX_ID = re.compile(r"[^A-Za-z0-9.-]+")
_BLOCK = 1 << 20


def check_formats(formats: list[str] | tuple[str, ...]) -> None:
    """Refuse an SBOM format that is not one of :data:`FORMATS`."""
    for fmt in formats:
        if fmt not in SUFFIXES:
            raise EnvBundleError(
                f"Unknown SBOM format {fmt!r}. Choose one of: {', '.join(FORMATS)}."
            )


def document(manifest: Manifest, fmt: str, bundle_sha256: str | None) -> dict[str, Any]:
    """The SBOM of the bundle with ``manifest`` (``bundle_sha256``: the bundle file's)."""
    check_formats([fmt])
    facts = _Facts(manifest, bundle_sha256)
    return valid_text(_cyclonedx(facts) if fmt == "cyclonedx" else _spdx(facts))


def dumps(doc: dict[str, Any]) -> bytes:
    """The document as it is written and printed: indented, keys sorted, one newline."""
    return (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def manifest_digest(manifest: Manifest) -> str:
    """sha256 of the manifest as a bundle carries it (the same bytes in every format)."""
    digest = hashlib.sha256()
    for piece in manifest.to_stream()[1]:
        digest.update(piece)
    return digest.hexdigest()


class HashingReader:
    """A stream that hashes what is read through it, so that a bundle on standard input
    is read once for its manifest and its sha256."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.digest.update(data)
        return data

    def finish(self) -> str:
        """Read what is left; the sha256 of everything."""
        while self.read(_BLOCK):
            pass
        return self.digest.hexdigest()


class _Facts:
    """What both formats say, computed once."""

    def __init__(self, manifest: Manifest, bundle_sha256: str | None) -> None:
        self.manifest = manifest
        self.bundle_sha256 = bundle_sha256
        self.extra = manifest.sbom
        if self.extra:
            check_records(manifest)
        seed = f"{manifest_digest(manifest)}:{bundle_sha256 or ''}"
        self.uuid = uuid.uuid5(_NAMESPACE, seed)
        self.mtime = self.extra["mtime"] if self.extra else _UNKNOWN_TIME

    @property
    def platform(self) -> list[tuple[str, str]]:
        """The platform and its requirements, as (name, value)."""
        needs = [(f"requires:{k}", v) for k, v in sorted(self.manifest.requirements.items())]
        return [("platform", self.manifest.subdir), *(needs or [("requires", "nothing else")])]

    @property
    def distributions(self) -> list[dict[str, Any]]:
        return self.extra["python_distributions"] if self.extra else []

    def unknowns(self) -> list[str]:
        """What this bundle's manifest does not record, said in the document."""
        said = []
        if self.extra is None:
            said.append(
                f"made by {TOOL} {self.manifest.tool_version}, which did not record package "
                "licences, pip-installed distributions, unowned files or its creation time: "
                "they are missing from this document"
            )
        if self.bundle_sha256 is None:
            said.append("the bundle's own sha256 is not known (a directory bundle)")
        return said

    def unowned_summary(self) -> str | None:
        if not self.extra:
            return None
        unowned = self.extra["unowned"]
        parts = ", ".join(
            f"{d['path']}: {d['files']} files, {d['size']} bytes" for d in unowned["directories"]
        )
        return (
            f"{unowned['files']} files ({unowned['size']} bytes) belong to no conda package "
            f"and no Python distribution" + (f" ({parts})" if parts else "")
        )


# --- CycloneDX 1.6 ---------------------------------------------------------------------------


def _cyclonedx(facts: _Facts) -> dict[str, Any]:
    manifest = facts.manifest
    refs = Refs("bundle")
    components = [_cdx_conda(p, refs) for p in manifest.packages]
    components += [_cdx_pypi(d, refs) for d in facts.distributions]
    bundle = {
        "type": "application",
        "bom-ref": "bundle",
        "name": manifest.source_name,
        "description": f"conda environment bundle made by {TOOL}",
        "properties": _cdx_properties(facts.platform),
    }
    if facts.bundle_sha256:
        bundle["hashes"] = [{"alg": "SHA-256", "content": facts.bundle_sha256}]
    notes = [("unknown", text) for text in facts.unknowns()]
    summary = facts.unowned_summary()
    if summary:
        notes.append(("unowned-files", summary))
    metadata: dict[str, Any] = {
        "tools": {
            "components": [
                {"type": "application", "name": TOOL, "version": manifest.tool_version},
                {"type": "application", "name": "conda", "version": manifest.conda_version},
            ]
        },
        "component": bundle,
    }
    if notes:
        metadata["properties"] = _cdx_properties(notes)
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": facts.uuid.urn,
        "version": 1,
        "metadata": metadata,
        "components": components,
        "dependencies": [
            {"ref": "bundle", "dependsOn": [c["bom-ref"] for c in components]},
            *({"ref": c["bom-ref"]} for c in components),
        ],
    }


def _cdx_properties(pairs: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"name": f"{TOOL}:{name}", "value": value} for name, value in pairs]


def _cdx_conda(package: dict[str, Any], refs: Refs) -> dict[str, Any]:
    purl = conda_purl(package)
    component: dict[str, Any] = {
        "type": "library",
        "bom-ref": refs.unique(purl),
        "name": package["name"],
        "version": package["version"],
        "purl": purl,
        "properties": _cdx_properties(
            [
                (key, str(package[key]))
                for key in ("build", "build_number", "channel", "subdir", "fn")
                if isinstance(package.get(key), str | int)
            ]
        ),
    }
    hashes = [
        {"alg": alg, "content": digest}
        for alg, key in (("SHA-256", "sha256"), ("MD5", "md5"))
        if (digest := digest_of(package, key))
    ]
    if hashes:
        component["hashes"] = hashes
    if package.get("license"):
        component["licenses"] = [{"license": {"name": package["license"]}}]
    return component


def _cdx_pypi(dist: dict[str, Any], refs: Refs) -> dict[str, Any]:
    purl = pypi_purl(dist)
    ref = refs.unique(purl)
    return {
        "type": "library",
        "bom-ref": ref,
        "name": dist["name"],
        "version": dist["version"],
        "purl": purl,
        "properties": _cdx_properties(
            [("installer", dist["installer"]), ("metadata", dist["metadata"])]
        ),
        "components": [
            {
                "type": "file",
                "bom-ref": refs.unique(f"{ref}#{path}"),
                "name": path,
                "hashes": [{"alg": "SHA-256", "content": digest}],
            }
            for path, digest in dist["record"]
        ],
    }


# --- SPDX 2.3 --------------------------------------------------------------------------------


def _spdx(facts: _Facts) -> dict[str, Any]:
    manifest = facts.manifest
    licences: dict[str, str] = {}
    packages = [_spdx_bundle(facts)]
    for index, package in enumerate(manifest.packages):
        packages.append(_spdx_conda(index, package, licences))
    for index, dist in enumerate(facts.distributions):
        packages.append(_spdx_pypi(index, dist))
    notes = facts.unknowns()
    summary = facts.unowned_summary()
    if summary:
        notes.append(summary)
    doc: dict[str, Any] = {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": f"{manifest.source_name} (conda environment bundle)",
        "documentNamespace": f"https://spdx.org/spdxdocs/{TOOL}/{facts.uuid}",
        "creationInfo": {
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(facts.mtime)),
            "creators": [
                f"Tool: {TOOL}-{manifest.tool_version}",
                f"Tool: conda-{manifest.conda_version}",
            ],
        },
        "documentDescribes": ["SPDXRef-Bundle"],
        "packages": packages,
        "relationships": [
            {
                "spdxElementId": "SPDXRef-DOCUMENT",
                "relationshipType": "DESCRIBES",
                "relatedSpdxElement": "SPDXRef-Bundle",
            },
            *(
                {
                    "spdxElementId": "SPDXRef-Bundle",
                    "relationshipType": "CONTAINS",
                    "relatedSpdxElement": p["SPDXID"],
                }
                for p in packages[1:]
            ),
        ],
    }
    if notes:
        doc["comment"] = "; ".join(notes) + "."
    if licences:
        doc["hasExtractedLicensingInfos"] = [
            {
                "licenseId": ref,
                "name": text,
                "extractedText": text,
                "comment": "The licence as the conda package records it (index.json).",
            }
            for text, ref in sorted(licences.items(), key=lambda item: item[1])
        ]
    return doc


def _spdx_id(kind: str, index: int, name: str) -> str:
    return f"SPDXRef-{kind}-{index}-{_SPDX_ID.sub('-', name)}"


def _spdx_package(spdx_id: str, name: str, version: str) -> dict[str, Any]:
    return {
        "SPDXID": spdx_id,
        "name": name,
        "versionInfo": version,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False,
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
    }


def _spdx_bundle(facts: _Facts) -> dict[str, Any]:
    package = _spdx_package("SPDXRef-Bundle", facts.manifest.source_name, "NOASSERTION")
    del package["versionInfo"]
    package["primaryPackagePurpose"] = "APPLICATION"
    package["comment"] = (
        f"conda environment bundle made by {TOOL}; "
        + ", ".join(f"{name} {value}" for name, value in facts.platform)
        + "."
    )
    if facts.bundle_sha256:
        package["checksums"] = [{"algorithm": "SHA256", "checksumValue": facts.bundle_sha256}]
    return package


def _spdx_conda(index: int, package: dict[str, Any], licences: dict[str, str]) -> dict[str, Any]:
    entry = _spdx_package(
        _spdx_id("conda", index, package["name"]), package["name"], package["version"]
    )
    entry["primaryPackagePurpose"] = "LIBRARY"
    entry["externalRefs"] = [
        {
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": conda_purl(package),
        }
    ]
    checksums = [
        {"algorithm": alg, "checksumValue": digest}
        for alg, key in (("SHA256", "sha256"), ("MD5", "md5"))
        if (digest := digest_of(package, key))
    ]
    if checksums:
        entry["checksums"] = checksums
    if file_name(package):
        entry["packageFileName"] = file_name(package)
    if package.get("channel"):
        entry["sourceInfo"] = f"conda channel {package['channel']}, subdir {package.get('subdir')}"
    text = package.get("license")
    if text:
        # recorded licences are free text, not always SPDX expressions: each one is kept
        # verbatim as extracted licensing information, referenced by its own id
        ref = licences.setdefault(text, f"LicenseRef-conda-{len(licences)}")
        entry["licenseDeclared"] = ref
    return entry


def _spdx_pypi(index: int, dist: dict[str, Any]) -> dict[str, Any]:
    entry = _spdx_package(_spdx_id("pypi", index, dist["name"]), dist["name"], dist["version"])
    entry["primaryPackagePurpose"] = "LIBRARY"
    entry["externalRefs"] = [
        {
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": pypi_purl(dist),
        }
    ]
    record = "; ".join(f"{path} sha256:{digest}" for path, digest in dist["record"])
    entry["comment"] = (
        f"Installed by {dist['installer']} ({dist['metadata']}); files from its RECORD: "
        + (record or "none with a sha256")
        + "."
    )
    return entry

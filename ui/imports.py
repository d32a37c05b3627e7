"""The Train page's "Your own images": a .zip of class folders imported into the app's data
folder by :func:`vae_core.io.imports.import_images`, the same import as ``import-images``."""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

from ui import data
from vae_core.data.datasets import resolve_data_dir
from vae_core.data.sources import get_source, imported_names, known_names
from vae_core.io.imports import ImportLimits, ImportRefused, ImportResult, import_images

_OUTCOME_KEY = "import_outcome"


def dataset_options(key: str) -> tuple[str, ...]:
    """The shipped and imported sets, for a selectbox; a kept choice that is gone is dropped."""
    names = known_names()
    if st.session_state.get(key) not in (None, *names):
        del st.session_state[key]
    return names


def dataset_title(name: str) -> str:
    try:
        return get_source(name).title
    except ValueError:
        return name


def dataset_classes(name: str) -> tuple[str, ...]:
    """The class names of a shipped or imported set (a CVAE gets one label per class)."""
    return get_source(name).class_names


def import_upload(payload: bytes, name: str, force: bool, limits: ImportLimits) -> ImportResult:
    """Import an uploaded .zip into the app's data folder; the cached splits are dropped, so a
    replaced set is read again."""
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "upload.zip"
        archive.write_bytes(payload)
        result = import_images(archive, name, force=force, limits=limits)
    data.clear_cached_splits()
    return result


def judge_panel() -> None:
    """Train the classifier an imported set needs for the CVAE faithfulness score and the
    Latent map's classifier regions (``vae_core.training.judge``, as ``train-classifier``)."""
    from ui.paths import SHIPPED_DIR  # noqa: PLC0415
    from vae_core.data.datasets import DatasetUnavailable, load_split  # noqa: PLC0415
    from vae_core.evaluation.classifier import load_classifier  # noqa: PLC0415
    from vae_core.training.judge import JUDGE_EPOCHS, default_judge_path, train_judge  # noqa: PLC0415

    names = imported_names()
    if not names:
        return
    st.markdown("**A classifier for an imported set**")
    name = st.selectbox("Set", names, key="judge_set")
    path = default_judge_path(name, SHIPPED_DIR / "classifiers")
    if path.is_file():
        try:
            _, meta = load_classifier(path)
            st.caption(
                f"{name} has a classifier: {meta.get('test_accuracy', 0):.1%} test accuracy on "
                f"{meta.get('test_size', 0):,} images. The CVAE faithfulness page and the "
                "classifier regions use it."
            )
        except ValueError as exc:
            st.warning(f"Its classifier cannot be read ({exc}); train it again.")
    else:
        st.caption(
            f"{name} has no classifier yet: the CVAE faithfulness page and the Latent map's "
            f"classifier regions need one (a small CNN, {JUDGE_EPOCHS} epochs on its training "
            "images)."
        )
    if not st.button("Train the classifier", key="judge_train"):
        return
    try:
        train_set, test_set = load_split(name, "train"), load_split(name, "test")
    except (DatasetUnavailable, ValueError) as exc:
        st.error(f"Cannot read {name}: {exc}")
        return
    bar = st.progress(0.0, text="Training the classifier…")
    meta = train_judge(
        train_set,
        test_set,
        path,
        on_epoch=lambda e, _: bar.progress(e / JUDGE_EPOCHS, f"epoch {e} of {JUDGE_EPOCHS}"),
    )
    bar.empty()
    st.success(
        f"Trained: {meta['test_accuracy']:.1%} test accuracy on {meta['test_size']:,} images."
    )


def import_panel() -> None:
    """Upload, name and import. Drawn below the training form: after an import the page reruns
    so the dataset box above lists the new set, and the outcome (counts per class, refused
    files) is shown from session state."""
    with st.expander("Your own images (.zip)", icon=":material/upload:"):
        try:
            limits = ImportLimits.from_env()
        except ValueError as exc:  # the server's setting, not the student's upload
            st.error(f"Importing is off: this server's import limit is not valid ({exc}).")
            return
        st.caption(
            "A .zip with one folder per class (cats/…, dogs/…). Each image becomes a 28x28 grey "
            "picture as uploads do elsewhere; the set is split 80/20 (seeded, by class) and "
            f"stored in {resolve_data_dir()}. Limits: {limits.describe()} (unpacked)."
        )
        for kind, text in st.session_state.pop(_OUTCOME_KEY, []):
            (st.success if kind == "success" else st.warning)(text)
        upload = st.file_uploader("Images (.zip)", type=["zip"], key="import_zip")
        name = st.text_input("Dataset name", key="import_name", placeholder="e.g. my-shapes")
        force = st.checkbox("Replace a set of that name", key="import_force")
        pressed = st.button("Import", disabled=upload is None or not name.strip())
        judge_panel()
        if not pressed:
            return
        try:
            result = import_upload(upload.getvalue(), name.strip(), force, limits)
        except ImportRefused as exc:
            st.error(f"Not imported: {exc}")
            return
        counts = zip(result.class_names, result.counts["train"], result.counts["test"], strict=True)
        per_class = ", ".join(f"{c} {a}+{b}" for c, a, b in counts)
        outcome = [
            (
                "success",
                f"Imported {result.name!r} (train+test images per class: {per_class}). Choose it "
                "as the dataset above.",
            )
        ]
        if result.refused:
            refused = "; ".join(f"{f}: {r}" for f, r in result.refused[:20])
            outcome.append(("warning", f"{len(result.refused)} file(s) refused: {refused}"))
        st.session_state[_OUTCOME_KEY] = outcome
        st.rerun()

"""Train: fit a VAE, CVAE, AE or β-VAE and watch its ELBO, reconstruction and KL curves live.

The finished model joins the model picker and becomes the chosen one. Thin UI: the job manager
(``ui.training_jobs``) runs ``vae_core.training.trainer.train`` in a thread that never touches Streamlit;
this page only builds the configs, starts/stops jobs and polls their snapshots from a fragment
(which also sends the heartbeat that keeps the job alive).
"""

from __future__ import annotations

import os

import streamlit as st

st.set_page_config(page_title="Train · VAE Latent Lab", page_icon="🧪", layout="wide")

from ui import training_jobs as jobs  # noqa: E402 - after set_page_config by design
from ui.form_state import kept  # noqa: E402
from ui.imports import dataset_classes, dataset_options, dataset_title, import_panel  # noqa: E402
from ui.model_list import list_models  # noqa: E402
from ui.paths import user_models_dir  # noqa: E402
from ui.picker import TRAIN_JOBS_KEY, select_model  # noqa: E402
from ui.session import current_model  # noqa: E402
from vae_core.config import (  # noqa: E402
    LIKELIHOOD_TITLES,
    PRIOR_LABELS,
    ConfigError,
    ModelConfig,
    VQConfig,
)
from vae_core.data.binarize import default_binarization  # noqa: E402
from vae_core.device import pick_device  # noqa: E402
from vae_core.jobs.settings import local_worker_wanted  # noqa: E402
from vae_core.training.run_metadata import default_name  # noqa: E402
from vae_core.training.trainer import OBJECTIVES, TrainConfig  # noqa: E402

JOBS_KEY = TRAIN_JOBS_KEY  # this session's jobs, newest last
SELECTED_KEY = "train_selected_jobs"  # jobs whose finished model was already made the choice
MODELS = {
    "VAE": ("vae", 1.0),
    "CVAE": ("cvae", 1.0),
    "AE": ("ae", 1.0),
    "β-VAE": ("vae", None),
    "VQ-VAE": ("vqvae", 1.0),  # a VQConfig, trained by the same pipeline (train_and_score)
}
LIKELIHOODS = LIKELIHOOD_TITLES
NOISE_HELP = (
    "The denoising objective (Im et al. 2017): each batch is corrupted with fresh noise, the "
    "encoder sees the noisy digit and the reconstruction is scored against the clean one. "
    "KIND:LEVEL with a noise of the Denoise page: gaussian:0.3, salt-pepper:0.2, "
    "occlusion-square:0.4, occlusion-half:0.5; none for the standard ELBO. The training curves "
    "then show this objective; validation and test ELBO stay the standard ELBO of clean digits."
)


def parse_sizes(text: str, what: str) -> tuple[int, ...]:
    """'512, 256' -> (512, 256); a ValueError names the field on anything else."""
    try:
        sizes = tuple(int(part) for part in text.replace(" ", "").split(",") if part)
    except ValueError:
        raise ValueError(f"{what}: use whole numbers separated by commas, e.g. 512,256") from None
    if not sizes:
        raise ValueError(f"{what}: give at least one size")
    return sizes


def _session_job() -> jobs.TrainingJob | None:
    ids = st.session_state.get(JOBS_KEY) or []
    return jobs.get_job(ids[-1]) if ids else None


def _adopt_finished(job: jobs.TrainingJob | None) -> None:
    """A finished job's model becomes the chosen one, once (before the picker is drawn)."""
    if job is None:
        return
    snap = job.snapshot()
    selected = st.session_state.setdefault(SELECTED_KEY, [])
    if snap.state == "done" and snap.checkpoint and snap.id not in selected:
        select_model(snap.checkpoint)
        selected.append(snap.id)


# Every setting's widget key; the values survive a visit to another page (ui.form_state).
# Defaults come from the config dataclasses, except the few this page chooses for a first run.
_MODEL, _TRAIN, _VQ = ModelConfig(), TrainConfig(), VQConfig()
DEFAULTS: dict[str, object] = {
    "train_dataset": _TRAIN.dataset,
    "train_model": "VAE",
    "train_beta": 4.0,  # the β-VAE paper's value for a visible effect (ModelConfig's 1 is a VAE)
    "train_latent_dim": _MODEL.latent_dim,
    "train_prior": _MODEL.prior,
    "train_prior_components": _MODEL.prior_components,
    "train_arch": _MODEL.arch,
    "train_hidden": ",".join(str(h) for h in _MODEL.hidden),
    "train_channels": ",".join(str(c) for c in _MODEL.conv_channels),
    "train_dense": 512,
    "train_likelihood": _MODEL.likelihood,
    "train_learn_var": _MODEL.learn_variance,
    "train_std": _MODEL.gaussian_std,
    "train_binarize": "auto",
    "train_epochs": 5,  # a first run that finishes in about a minute on a laptop CPU
    "train_batch_size": _TRAIN.batch_size,
    "train_lr": _TRAIN.lr,
    "train_seed": _TRAIN.seed,
    "train_schedule": _TRAIN.lr_schedule,
    "train_name": "",
    "train_noise": _TRAIN.train_noise,
    "train_objective": _TRAIN.objective,
    "train_iw_samples": _TRAIN.iw_train_samples,
    "train_codebook_size": _VQ.codebook_size,
    "train_code_dim": _VQ.code_dim,
    "train_vq_channels": ",".join(str(c) for c in _VQ.conv_channels),
}


def _keep(key: str) -> dict[str, object]:
    return kept(key, DEFAULTS[key])


def _form() -> jobs.JobSpec | None:
    """Draw the settings; return a validated spec when Start is pressed (else None)."""
    c1, c2, c3 = st.columns(3, gap="large")
    with c1:
        dataset = st.selectbox(
            "Dataset", dataset_options("train_dataset"), format_func=dataset_title,
            **_keep("train_dataset"),
        )  # fmt: skip
        model = st.selectbox(
            "Model", tuple(MODELS), help="β-VAE: a VAE whose KL is weighted by β",
            **_keep("train_model"),
        )  # fmt: skip
        kind, beta = MODELS[model]
        vq = kind == "vqvae"
        if beta is None:
            beta = st.number_input("β (KL weight)", 0.0, 1000.0, step=0.5, **_keep("train_beta"))
        if vq:
            codebook_size = int(
                st.number_input(
                    "Codebook size K", 16, 512, help="number of codebook vectors (van den Oord "
                    "et al. 2017); the uniform prior's KL is then 49 ln K nats per image",
                    **_keep("train_codebook_size"),
                )
            )  # fmt: skip
            code_dim = int(st.number_input("Code dimension D", 1, 256, **_keep("train_code_dim")))
            latent_dim, prior, components = _MODEL.latent_dim, _MODEL.prior, 1
        else:
            latent_dim = int(
                st.number_input("Latent dimensions", 1, 512, **_keep("train_latent_dim"))
            )
            prior = st.selectbox(
                "Prior", tuple(PRIOR_LABELS), format_func=PRIOR_LABELS.get,
                help="p(z): a learned prior (VAE only; Tomczak & Welling 2018) can follow the "
                "aggregate posterior and leave fewer holes than N(0, I)",
                **_keep("train_prior"),
            )  # fmt: skip
            components = int(
                st.number_input(
                    "Prior components", 1, 1000,
                    help="mixture components, or the VampPrior's pseudo-inputs",
                    disabled=prior == "standard", **_keep("train_prior_components"),
                )
            )  # fmt: skip
    with c2:
        if vq:
            st.caption(
                "VQ-VAE: conv encoder to a 7×7 grid of D-vectors, each snapped to the nearest "
                "codebook vector (EMA updates, dead-code restarts), conv decoder."
            )
            vq_channels = st.text_input(
                "Conv channels (two layers, stride 2)", **_keep("train_vq_channels")
            )
            arch = "conv"
        else:
            arch = st.radio(
                "Architecture", ("mlp", "conv"), horizontal=True, format_func=str.upper,
                **_keep("train_arch"),
            )  # fmt: skip
        if vq:
            hidden_text = ",".join(str(h) for h in _MODEL.hidden)
            channels_text = str(DEFAULTS["train_channels"])
        elif arch == "mlp":
            hidden_text = st.text_input("Hidden layer sizes", **_keep("train_hidden"))
            channels_text = str(DEFAULTS["train_channels"])
        else:
            channels_text = st.text_input(
                "Conv channels (two layers, stride 2)", **_keep("train_channels")
            )
            hidden_text = str(st.number_input("Dense layer size", 1, 8192, **_keep("train_dense")))
        likelihood = st.selectbox(
            "Likelihood p(x|z)", tuple(LIKELIHOODS), format_func=LIKELIHOODS.get,
            **_keep("train_likelihood"),
        )  # fmt: skip
        std, learn_var = _MODEL.gaussian_std, False
        if likelihood == "gaussian":
            learn_var = not vq and st.checkbox(  # a VQ-VAE's Gaussian has a fixed σ
                "Learn the variance per pixel", **_keep("train_learn_var")
            )
            if not learn_var:
                std = st.number_input("Fixed σ", 0.01, 10.0, step=0.01, **_keep("train_std"))
    with c3:
        auto = default_binarization(likelihood, dataset)
        binarize = st.selectbox(
            "Binarization", ("auto", "dynamic", "static", "none"),
            format_func=lambda b: f"auto ({auto})" if b == "auto" else b,
            help="MNIST with a Bernoulli decoder is usually trained on binarized digits "
            "(dynamic: a fresh draw every epoch); grey images otherwise.",
            **_keep("train_binarize"),
        )  # fmt: skip
        epochs = int(st.number_input("Epochs", 1, 500, **_keep("train_epochs")))
        batch_size = int(st.number_input("Batch size", 1, 4096, **_keep("train_batch_size")))
        lr = st.number_input(
            "Learning rate", 1e-5, 1.0, format="%.5f", step=1e-4, **_keep("train_lr")
        )
        seed = int(st.number_input("Seed", 0, 2**31 - 1, **_keep("train_seed")))
    with st.expander("More settings"):
        schedule = st.radio(
            "Learning-rate schedule", ("constant", "onecycle"), horizontal=True,
            **_keep("train_schedule"),
        )  # fmt: skip
        name = st.text_input(
            "Name (blank: a name from the settings)", max_chars=80, **_keep("train_name")
        )
        noise = st.text_input(
            "Training noise (denoising VAE)", help=NOISE_HELP, **_keep("train_noise")
        )
        o1, o2 = st.columns(2)
        objective = o1.radio(
            "Objective", OBJECTIVES, horizontal=True, format_func=str.upper,
            help="ELBO, or the importance-weighted bound of Burda et al. 2015 (VAE and CVAE "
            "with β = 1): tighter, and it keeps more latent units active",
            **_keep("train_objective"),
        )  # fmt: skip
        iw_samples = int(
            o2.number_input(
                "IWAE samples K", 1, 5000, disabled=objective != "iwae",
                help="each step decodes K codes per image, so it costs about K times as much",
                **_keep("train_iw_samples"),
            )
        )  # fmt: skip
    current = _session_job()
    busy = current is not None and current.snapshot().active
    start = st.button("Start training", type="primary", disabled=busy, icon=":material/play_arrow:")
    if not start:
        return None
    try:
        config: ModelConfig | VQConfig
        if vq and (objective != "elbo" or noise.strip() not in ("", "none")):
            raise ValueError(
                "a VQ-VAE trains on its own objective (reconstruction + codebook and "
                "commitment losses): set the objective to ELBO and the training noise to none"
            )
        if vq:
            config = VQConfig(
                codebook_size=codebook_size,
                code_dim=code_dim,
                conv_channels=parse_sizes(vq_channels, "Conv channels"),
                likelihood=likelihood,
                gaussian_std=float(std),
            )
        else:
            config = ModelConfig(
                kind=kind,
                arch=arch,
                latent_dim=latent_dim,
                hidden=parse_sizes(hidden_text, "Hidden layer sizes"),
                conv_channels=parse_sizes(channels_text, "Conv channels"),
                likelihood=likelihood,
                gaussian_std=float(std),
                learn_variance=learn_var,
                beta=float(beta),
                n_classes=len(dataset_classes(dataset)),
                prior=prior,
                prior_components=components,
            )
        train_config = TrainConfig(
            dataset=dataset,
            epochs=epochs,
            batch_size=batch_size,
            lr=float(lr),
            lr_schedule=schedule,
            binarize=auto if binarize == "auto" else binarize,
            seed=seed,
            log_every=10,  # live curves: a point every 10 batches (one host sync each)
            train_noise=noise,
            objective=objective,
            iw_train_samples=iw_samples,
        )
    except (ConfigError, ValueError) as exc:
        st.error(f"Cannot start: {exc}")
        return None
    if isinstance(config, VQConfig):
        default = f"VQ-VAE K={config.codebook_size} · {dataset}"  # the CLI's default name
    else:
        default = default_name(config, train_config)
    title = name.strip() or default
    return jobs.JobSpec(title, config, train_config)


def _draw(snap: jobs.JobSnapshot) -> None:
    """Progress, live curves and KL bars of one job snapshot."""
    from ui.charts import kl_per_dim_bars, training_curves

    st.markdown(f"**{snap.name}** · {snap.device or jobs.training_device_label(pick_device())}")
    if snap.state == "waiting":
        st.info(jobs.waiting_text(snap))
    elif snap.state == "loading":
        st.info(snap.message)
    elif snap.state == "training" and not snap.total_steps:
        st.info("Training started; the first figures arrive after a few batches.")
    elif snap.total_steps:
        st.progress(min(1.0, snap.progress), text=jobs.progress_text(snap))
    if snap.state == "evaluating":
        frac = snap.eval_done / snap.eval_total if snap.eval_total else 0.0
        st.progress(frac, text=snap.message)
    if snap.data_note:
        st.caption(snap.data_note)
    if snap.steps or snap.history:
        curves = training_curves(snap.history, snap.steps)
        st.plotly_chart(curves, width="stretch", key=f"curves-{snap.id}")  # stable identity
    if snap.kl_per_dim:
        st.markdown("**KL per latent dimension** (last epoch; grey = collapsed, < 0.01 nats)")
        bars = kl_per_dim_bars(snap.kl_per_dim, height=220)
        st.plotly_chart(bars, width="stretch", key=f"kl-{snap.id}")


def _live(job_id: str) -> None:
    """Polled every second while the job runs: heartbeat, redraw, full rerun when it ends."""
    job = jobs.get_job(job_id)
    if job is None:
        return
    job.beat()
    snap = job.snapshot()
    if st.button("Stop training", icon=":material/stop:", key=f"stop-{job_id}"):
        job.request_stop()
        st.toast("Stopping… the last good checkpoint is kept.")
    _draw(snap)
    if not snap.active:
        st.rerun()  # leave the fragment: the full page shows the outcome and refreshes the picker


def _outcome(snap: jobs.JobSnapshot) -> None:
    if snap.state == "done":
        tm = snap.test_metrics or {}
        nll = f", IWAE NLL {tm['nll']:.2f}" if tm.get("nll") is not None else ""
        if "recon_log_likelihood" in tm:  # a VQ-VAE: no Gaussian posterior, no IWAE
            st.success(
                f"{snap.message} Reconstruction log-likelihood {tm['recon_log_likelihood']:.2f} "
                f"nats, {tm.get('codes_used')} of {tm.get('codebook_size')} codes used "
                f"(perplexity {tm.get('perplexity', float('nan')):.1f}) on "
                f"{tm.get('images', 0):,} test images. It is now the chosen model; see its "
                "codes on the VQ codes page."
            )
            _draw(snap)
            return
        st.success(
            f"{snap.message} Test ELBO {tm.get('elbo', float('nan')):.2f}{nll} nats on "
            f"{tm.get('n', 0):,} test images. It is now the chosen model in the sidebar; "
            "the Home page shows its card."
        )
    elif snap.state == "stopped":
        st.warning(snap.message)
    elif snap.state == "error":
        saved = (
            " The last good checkpoint is kept and listed in the model picker."
            if snap.checkpoint
            else ""
        )
        st.error(f"Training failed: {(snap.error or '').rstrip('.')}.{saved}")
    if snap.checkpoint and snap.state != "done":
        st.caption(f"Checkpoint: {snap.checkpoint}")
    _draw(snap)


job = _session_job()
_adopt_finished(job)
if list_models(include_vq=True):
    current_model(training_status=False, allow_vq=True)  # this page polls the job itself
else:
    st.sidebar.info("No models yet: the one you train here will appear in this picker.")

st.title("Train a model")
_device = pick_device()
_spare = _device.type == "cpu" and jobs.cpu_threads() < (os.cpu_count() or 1)
_where = (
    f"on {jobs.training_device_label(_device)}"
    f"{', with a core left to the other pages' if _spare else ''}"
    if local_worker_wanted()
    else "on a worker machine that takes the jobs from the queue (this app starts no worker)"
)
st.caption(
    f"Trains in the background {_where}; per-epoch "
    f"checkpoints go to {user_models_dir()}. You may look at other pages meanwhile (progress "
    "shows in the sidebar); closing the tab stops the training after "
    f"~{jobs.HEARTBEAT_TIMEOUT_S:.0f} s (the last checkpoint is kept)."
)
spec = _form()
import_panel()
if spec is not None:
    try:
        job = jobs.start_job(spec, user_models_dir())
    except (ValueError, RuntimeError, OSError) as exc:  # the queue settings, the jobs folder
        st.error(f"Cannot queue the training: {exc}")
    else:
        st.session_state.setdefault(JOBS_KEY, []).append(job.id)
        st.rerun()  # redraw with Start disabled and the live view polling

if job is not None:
    st.divider()
    snap = job.snapshot()
    if snap.active:
        st.fragment(run_every=1.0)(_live)(job.id)
    else:
        _outcome(snap)

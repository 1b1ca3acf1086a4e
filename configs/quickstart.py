"""CPU quick start: SpatialNet (stage 1) on the synthetic benchmark at 128 px.

Run:  python train.py --config configs/quickstart.py --workdir /tmp/artrack_quickstart

A 1-stack hourglass (64 features, 3 levels) on `synthetic_posetrack/small_128` (100 training
clips, generated on first use), batch 4, 2000 steps of Adam at 1e-3 then 1e-4. Measured on a
2-core CPU shared with other jobs: 0.32 s per train step alone, 0.5-0.9 s per step with the
input pipeline in the same process, after a 50-60 s compilation; so 11-25 minutes of training
depending on the load, plus four validations (the data set is generated on the first run, a
few minutes more). The validation AP (`val/AP` in workdir/metrics.jsonl) is logged every 500
steps. In the main job (python -m artrack_jax.quickstart) this stage took 18 minutes and
reached val/AP 0.24 (AP50 0.64) on the first 80 validation frames at step 2000 (0.02 at
step 500): the detections form late, so judge the run at its end.
Then: configs/quickstart_pgg.py (stage 2) and configs/quickstart_temporal.py (stage 3).
"""
import ml_collections

from artrack_jax import configs_util


def get_config() -> ml_collections.ConfigDict:
  c = configs_util.load_config_module('default').get_config()
  c.data.builder_config = 'small_128'   # 100 / 20 / 20 clips x 24 frames at 128 px
  c.data.image_size = 128               # output maps 32 x 32
  c.data.max_people = 10                # the synthetic clips have 1-10 people
  c.model.stacks = 1
  c.model.features = 64
  c.model.increase = 32
  c.model.depth = 3                     # 32 -> 16 -> 8 -> 4
  c.model.he_dim = 256
  c.model.he_channels = 64
  c.pgg.num_slots = 1024                # every pixel of a 32 x 32 map
  # A short run needs a larger step than the paper's 2e-4 over 250k iterations.
  c.optim.learning_rate = 2e-3
  c.optim.final_learning_rate = 2e-4
  c.optim.decay_step = 2400
  # Short-run loss settings (not the paper's; see the module docstring for what each gave):
  # pixels near joints weigh 1 + 10 C* in Eq. 1, and KE / aux / SIE weigh 10x the paper's
  # 1e-3 / 1e-4 / 1e-4, so that the embeddings form within a few thousand steps.
  c.loss.det_fg_weight = 10.0
  c.loss.ke_weight = 1e-2
  c.loss.aux_weight = 1e-3
  c.loss.sie_weight = 1e-3
  c.train.batch_size = 4
  c.train.num_steps = 3200
  c.train.log_every = 50
  c.train.eval_every = 800
  c.train.eval_batches = 10             # 80 validation frames (eval batch 8)
  c.train.eval_batch_size = 8
  c.train.checkpoint_every = 250
  c.train.keep_checkpoints = 2
  # Decoding chosen on 480 training frames (not val): sub-pixel locations from a parabola fit
  # to the log-heatmap instead of AE's quarter-pixel shift (one output pixel is 4 input
  # pixels here), 5x5 NMS, a lower detection threshold, a tighter SIE gate.
  c.decode.subpixel = 'gaussian'
  c.decode.nms_kernel = 5
  c.decode.det_threshold = 0.05
  c.decode.sie_threshold = 4.0
  # Output thresholds for PoseTrack MOTA, chosen by the best MOTA on 20 training clips:
  #   python -m artrack_jax.tracking.evaluate --workdir runs/quickstart/pgg \
  #     --temporal-workdir runs/quickstart/temporal --config runs/quickstart/temporal/config.json \
  #     --out runs/sweep_train --split train --max-sequences 20 --similarity he_tie --pgg off \
  #     --no-ablations
  #   python -m artrack_jax.tracking.score_sweep --gt runs/sweep_train/gt \
  #     --pred runs/sweep_train/pred/he_tie --pose 0,0.1,0.2,0.3,0.4 --joint 0,0.2,0.3,0.4,0.5,0.6
  c.track.min_pose_score = 0.4
  c.track.min_joint_score = 0.6
  return c

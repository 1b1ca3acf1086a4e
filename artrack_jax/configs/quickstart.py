"""CPU quick start: SpatialNet (stage 1) on the synthetic benchmark's 256-px clips.

Run:  python train.py --config configs/quickstart.py --workdir /tmp/artrack_quickstart

A 1-stack hourglass (64 features, 3 levels, stem widths 32 / 64) on
`synthetic_posetrack/small_256` (100 training clips of 24 frames at 256 px, generated on first
use; people at the paper's scale relative to the output stride), trained on 128-px crops (80%
centred on a random person), batch 4, 4400 steps of Adam at 2e-3 then 2e-4 from step 3300. In
the main job (python -m artrack_jax.quickstart) this stage took 6.6 min on an idle 2-core Intel
Xeon (12.2 min on a 2-core AMD EPYC) and reached val/AP 0.38 on the first 80 validation frames
(`val/AP` in workdir/metrics.jsonl), and on the whole val split (720 frames, this file's
decoding): COCO-style AP 0.402 and PoseTrack AP 45.2 (README, Results; 0.395 and 36.3 with the
decoding before joint NMS, on the AMD EPYC's networks). The previous setting (AE's stem
widths 64 / 128, 3200 steps, decay at 2400) reached val/AP 0.25 and PoseTrack AP 35.0.

The 128-px set's experiments (`small_128`, people at a PCKh radius under one output pixel),
each a 2000-step run, whole-val COCO-style AP: paper loss weights at 1e-3 0.123; at 2e-3
0.171; det_fg_weight 10 at 1e-3 0.143; 2e-3 + det_fg_weight 10 + KE/aux/SIE weights x10 (this
file's training settings) 0.227; the same with 2 stacks 0.207; learning rate 4e-3 0.246.
Then: configs/quickstart_pgg.py (stage 2) and configs/quickstart_temporal.py (stage 3).
"""
import ml_collections

from artrack_jax import configs_util


def get_config() -> ml_collections.ConfigDict:
  c = configs_util.load_config_module('default').get_config()
  c.data.builder_config = 'small_256'   # 100 / 30 / 20 clips x 24 frames at 256 px
  c.data.image_size = 256               # whole frames at test time: output maps 64 x 64
  # Training on 128-px crops of the 256-px frames (people at their test-time scale): the
  # step costs what a 128-px frame costs. The translation range lets a crop fall anywhere.
  c.data.train_crop = 128
  c.data.augment.translation = 0.3
  c.data.max_people = 10                # the synthetic clips have 1-10 people
  c.model.stacks = 1
  c.model.features = 64
  c.model.increase = 32
  c.model.depth = 3                     # 32 -> 16 -> 8 -> 4
  # The stem's half-resolution residual at AE's widths (64, 128) was 35% of the step's time with
  # a 64-wide hourglass; at (32, 64) the JAX train step takes 132 instead of 208 ms
  # (128 px, batch 4, idle 2-core CPU), which buys more steps in the same minutes.
  c.model.stem_widths = (32, 64)
  c.model.he_dim = 256
  c.model.he_channels = 64
  c.pgg.num_slots = 1024                # every pixel of a 32 x 32 map
  # A short run needs a larger step than the paper's 2e-4 over 250k iterations.
  c.optim.learning_rate = 2e-3
  c.optim.final_learning_rate = 2e-4
  c.optim.decay_step = 3300
  # Short-run loss settings (not the paper's; see the module docstring for what each gave):
  # pixels near joints weigh 1 + 10 C* in Eq. 1, and KE / aux / SIE weigh 10x the paper's
  # 1e-3 / 1e-4 / 1e-4, so that the embeddings form within a few thousand steps.
  c.loss.det_fg_weight = 10.0
  c.loss.ke_weight = 1e-2
  c.loss.aux_weight = 1e-3
  c.loss.sie_weight = 1e-3
  c.train.batch_size = 4
  c.train.num_steps = 4400
  c.train.log_every = 50
  c.train.eval_every = 1100
  c.train.eval_batches = 10             # 80 validation frames (eval batch 8)
  c.train.eval_batch_size = 8
  c.train.checkpoint_every = 250
  c.train.keep_checkpoints = 2
  # Decoding, chosen on 20 training clips (480 frames, not val) with the tracked output's
  # precision: the crop-trained heatmaps hold weak peaks on background and distractors that
  # grouping turns into extra poses, which refine then fills with other people's joints. On
  # those clips (he_tie_pgg, all poses written) the detection threshold 0.2 -> 0.4 took
  # precision 15% -> 37% and AP 22 -> 30 together with the two steps below (not in AE):
  # poses that grouping gave fewer than 4 joints are dropped before refine, and a pose whose
  # OKS with a higher-scored pose is over 0.5 is dropped (decode.pose_nms). Sub-pixel
  # locations from a parabola fit to the log-heatmap, 5x5 NMS, SIE gate 8 output px (people
  # are twice the 128-px set's size).
  c.decode.subpixel = 'gaussian'
  c.decode.nms_kernel = 5
  c.decode.det_threshold = 0.4
  c.decode.sie_threshold = 8.0
  c.decode.min_joints = 4
  c.decode.pose_nms = 0.5
  # Joint-level NMS and joint scores times the pose score (neither in AE), chosen on the same
  # 20 training clips with `python benchmarks/ap_error_oracles.py`: refine gave weak poses
  # the peaks of stronger people's joints (duplicates cost 13.7 AP there), and the heat of a
  # joint alone ranks a weak pose's joints with a strong one's. Dropping a joint a
  # higher-scored pose holds within 1 output px, scoring each pose by the heat it keeps and
  # each joint by heat x pose score took that AP from 32.8 to 41.7 (the networks of the
  # previous main job, KE+SIE+aux+PGG; the tables command below, then the script on its
  # pred_ap/ke_sie_aux_pgg). Test-time scales (1, 1.5) gave 39.6, 3x3 NMS 41.2.
  c.decode.joint_nms = 1.0
  c.decode.joint_score = 'heat_x_pose'
  # Output thresholds for PoseTrack MOTA, chosen by the best MOTA on the same training clips:
  #   python -m artrack_jax.evaluation.tables --workdir runs/quickstart/pgg \
  #     --temporal-workdir runs/quickstart/temporal --out runs/sweep_train --split train \
  #     --max-sequences 20 --similarity he_tie --pgg only --no-score-filter
  #   python -m artrack_jax.evaluation.score_sweep --gt runs/sweep_train/gt \
  #     --pred runs/sweep_train/pred/he_tie_pgg --pose 0.2,0.3,0.4,0.5 --joint 0.4,0.5,0.55,0.6
  # (best MOTA 12.5 at 0.3 / 0.55 on those clips with the previous main job's networks,
  # precision 68%, recall 43%; with the decoding before joint NMS the best was 5.8 at 0.7 / 0.7.
  # Joint scores are heat x pose score, so these are lower than thresholds on the heat.)
  c.track.min_pose_score = 0.3
  c.track.min_joint_score = 0.55
  return c

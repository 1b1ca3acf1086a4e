"""Default configuration: SpatialNet (stage 1) with the paper's hyper-parameters.

Run:  python train.py --config configs/default.py --workdir /tmp/artrack
Variants import this file and override what differs (see configs/quickstart.py).
"""
import ml_collections


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.stage = 'spatial'           # 'spatial' (stage 1), 'pgg' (stage 2), 'temporal' (stage 3)

  c.data = d = ml_collections.ConfigDict()
  d.name = 'synthetic_posetrack'  # or 'posetrack', 'coco_keypoints' (TFDS, manual_dir)
  # TFDS builder config: synthetic 'large_512' (the paper's input size) ... 'small_128';
  # posetrack '2017' / '2018'; '' for the builder's default.
  d.builder_config = 'large_512'
  d.data_dir = ''               # TFDS data_dir; '' -> ~/tensorflow_datasets
  d.manual_dir = ''             # real data sets: where the downloaded files are
  d.train_split = 'train'       # the training split; '+' joins splits ('train+val')
  d.eval_split = 'val'          # the validation / eval.py split (the same syntax)
  d.skeleton = 'posetrack'
  d.image_size = 512            # square network input (paper: 512)
  d.train_crop = 0              # > 0: train on crops of this size of the image_size square
  d.crop_on_person = 0.8        # with crops: the share of crops centred on a random person
  d.canonical_sides = False     # train heatmaps on image-side labels: pairs of people facing
                                # away exchanged (targets.canonical_sides; not in the paper)
  d.max_people = 16
  d.sigma = 2.0                 # Eq. 1
  d.max_frame_gap = 5           # TemporalNet pairs |t - t'| <= 5
  d.num_workers = 0             # Grain worker processes (0: in the main process)
  d.read_threads = 2            # Grain read threads per process
  d.augment = ml_collections.ConfigDict(dict(
      scale_min=0.75, scale_max=1.25, rotation=30.0, translation=0.1, flip=0.5))

  c.model = m = ml_collections.ConfigDict()
  m.stacks = 4                  # paper: 4-stage stacked hourglass
  m.features = 256
  m.increase = 128
  m.depth = 4                   # hourglass levels
  m.stem_widths = (64, 128)     # stem's 7x7 conv and first residuals (AE: 64, 128)
  m.dtype = 'float32'           # compute dtype ('bfloat16' on accelerators)
  m.he_dim = 3072               # Human Embedding size
  m.he_channels = 256           # HE head width
  m.normalize_he = True         # unit-length HE (the triplet margin 0.3 then has a fixed scale)
  m.conv_weight_grad = 'auto'   # 'auto' (= 'xla', fastest measured), 'xla', 'matmul'
  m.roi_size = 7                # ROI-Align output size
  m.temporal_stacks = 1         # TemporalNet uses a 1-stack hourglass
  m.facing_head = False         # facing map for loss.facing_weight (not in the paper)

  c.loss = l = ml_collections.ConfigDict()
  l.det_weight = 1.0
  l.det_fg_weight = 0.0          # 0: Eq. 1; > 0 weighs pixels by 1 + w * C* (not in the paper)
  l.det_fg_mirrored = False      # True: ... by 1 + w * max(C*, C* of the mirrored joint)
  l.ke_weight = 1e-3
  l.aux_weight = 1e-4
  l.sie_weight = 1e-4
  l.use_ke = True               # Table 3 ablation switches
  l.use_sie = True
  l.use_aux = True
  l.facing_weight = 0.0         # > 0: facing loss at every joint (not in the paper; needs
                                # model.facing_head)
  l.pgg_weight = 1e-3           # grouping loss on PGG outputs (stage 2/3)
  l.he_margin = 0.3             # Eq. 6
  l.he_weight = 1.0
  l.tie_weight = 1e-4

  c.pgg = p = ml_collections.ConfigDict()
  p.enabled = False             # stage 2 turns it on
  p.tau = 0.2
  p.delta = 5.0
  p.iterations = 1              # R
  p.num_slots = 4096            # N
  p.sie_scale = 16.0            # SIE (output px) / sie_scale before grouping
  p.implementation = 'auto'     # 'direct', 'blockwise', 'auto' (blockwise above block_size)
  p.block_size = 1024
  p.use_ke = True               # group the KE part (Table 3: KE+PGG, SIE+PGG rows)
  p.use_sie = True

  c.optim = o = ml_collections.ConfigDict()
  o.learning_rate = 2e-4
  o.final_learning_rate = 1e-5
  o.decay_step = 250_000
  o.grad_clip = 0.0             # 0 disables
  o.eps = 1e-8                  # Adam epsilon

  c.train = t = ml_collections.ConfigDict()
  t.batch_size = 32             # global batch
  t.num_steps = 300_000
  t.log_every = 50
  t.eval_every = 5000
  t.checkpoint_every = 1000
  t.keep_checkpoints = 3
  t.eval_batches = 0            # 0: the whole split
  t.eval_batch_size = 0         # 0: train.batch_size
  t.max_consecutive_skips = 10  # stop after this many non-finite steps in a row
  t.init_from = ''              # stage 2/3: workdir of the previous stage

  c.eval = ev = ml_collections.ConfigDict()
  # COCO keypoint ground truth of eval.py and the validation: '' -> for coco_keypoints the
  # annotation file its split is built from (<data.manual_dir>/annotations/
  # person_keypoints_val2017.json), scored with pycocotools as COCO does (segmentation areas,
  # crowd annotations); other data sets rebuild it from the records. A path (',' between the
  # files of a joined split) names the data set's own file(s) instead.
  ev.coco_annotations = ''

  c.decode = dc = ml_collections.ConfigDict()
  dc.top_k = 30
  dc.nms_kernel = 3             # max-pool NMS window (AE: 3, mmpose: 5)
  dc.refine = True              # fill missing joints from the whole map (AE's refine)
  dc.subpixel = 'quarter'       # AE's quarter-pixel adjust, or 'gaussian' (log-parabola fit)
  dc.subpixel_blur = 0.0        # 'gaussian': smooth the maps first (std, output px; DARK)
  dc.det_threshold = 0.1
  dc.tag_threshold = 1.0
  dc.use_ke = True
  dc.use_sie = True
  dc.sie_threshold = 8.0        # output pixels
  dc.max_people = 30
  dc.pose_nms = 0.0             # > 0: drop poses with a higher-scored pose's OKS above it (not AE)
  dc.min_joints = 1             # drop poses that grouping gave fewer joints, before refine (not AE)
  dc.joint_nms = 0.0            # > 0: drop joints a higher-scored pose holds within it, px (not AE)
  dc.joint_score = 'heat'       # written joint score: 'heat' (AE) or 'heat_x_pose' (x pose score)
  dc.facing_orient = False      # orient left/right pairs by the facing map (not AE; needs
                                # model.facing_head; grouping/decode.orient_pairs)
  dc.facing_min = 0.3           # |facing| below this (profile): pairs left as decoded
  dc.facing_pair_radius = 1.5   # a pair's joints this close (output px) are one joint
  dc.facing_torso_spread = 0.0  # torsos narrower than this (profile): pairs left as decoded
  dc.canonical_sides = False    # networks trained with data.canonical_sides: exchange the pairs
                                # of people whose facing map is negative (decode.canonical_to_anatomical)
  dc.flip_test = True
  dc.scales = (1.0,)

  c.track = tr = ml_collections.ConfigDict()
  tr.similarity = 'he_tie'      # oks, iou, ke, ke_sie, he, tie, he_tie
  tr.lambda_he = 3.0
  tr.lambda_tie = 1.0
  tr.new_track_cost = 1.0       # costs are scaled so that 1.0 is the new-track gate
  tr.reid_cost = 1.0            # gate for re-identifying a lost track by HE
  tr.tag_threshold = 1.0        # KE tag distance scale for the 'ke'/'ke_sie' options
  tr.max_missed = 0
  tr.min_pose_score = 0.0        # poses/joints below these scores are tracked but not written
  tr.min_joint_score = 0.0       # (each written joint is a MOTA hypothesis)
  tr.min_joint_scores = ()       # one per joint type (skeleton order) instead; () = the above
  tr.reid_window = 30

  c.distributed = False         # jax.distributed.initialize() on multi-host
  return c

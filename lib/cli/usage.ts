// The command line's help texts: the overview (condiff help) and the help of sample and
// demo alone (condiff sample --help, condiff help sample, ...); bench, inpaint, restore and info keep
// theirs beside their commands (condiff help <command>).

const SAMPLE_WHAT = `draws from p(x | y) for the mixture in M.json and the observation in O.json
(observed coordinates, or y = A x + noise), and writes a float32 .npy array of shape
[samples, D] (exactly observed coordinates filled).`;

const SAMPLE_FLAGS = `  --model FILE          {"weights":[..],"means":[[..]],"covariances":[[[..]]]} (or "variances":[[..]])
  --observe FILE        {"indices":[..],"values":[..],"noiseStd":s} (coordinates) or
                        {"A":[[..],..],"y":[..],"noiseStd":s} (y = A x + s noise, A d_y x D);
                        noiseStd defaults to 0 (exact); smc, mcgdiff, fps and replacement take
                        every form, tds the coordinate form
  --method M            replacement | langevin | repaint | smc | mcgdiff | fps | tds |
                        particle-gibbs | pmmh (fps: a heuristic when noiseStd > 0, README "FPS")
  --out FILE.npy        output file, replaced only when sampling succeeds (a symlink's target is
                        written, a FIFO or device written through); - writes the .npy to stdout
  --context C           fixed | forward: the observed path (default forward; smc needs forward)
  --schedule S          ou | vp (default ou)
  --horizon T           end time T (default 5 for ou, 1 for vp)
  --steps S             backward steps on a uniform grid (default 200); with noiseStd > 0
                        the total of a grid with the matching times as nodes
  --kernel K            euler | ddpm (default euler)
  --samples K           number of draws (default 1000; for smc, K independent runs, one draw each)
  --seed X              seed of every random number (default 0)
  --threads P           worker threads (default: all cores; results do not depend on it)
  --backend B           auto | cpu | cuda (default auto: CUDA when available; see condiff info)
 langevin only:
  --langevin-steps L    corrector steps per backward step (default 5)
  --langevin-gamma G    step size delta = G * sigma_s^2 (default 0.1)
 repaint only:
  --jumps U             re-noise/denoise jumps per step (default 5)
 weighted methods (smc, mcgdiff, fps, tds):
  --particles N         particles per run (default 256)
  --resampling R        systematic | stratified | multinomial | residual (default systematic)
  --ess-threshold TAU   resample when ESS < TAU * N, TAU in [0, 1] (default 1: every step)
  --out-evidence FILE   also write each run's log-evidence: float64 .npy, shape [samples]
  --out-ess FILE        also write the ESS after each step: float64 .npy, shape [steps, samples]
 mcgdiff only (MATH.md §9.2):
  --kappa K             variance of the pinning factor N(x_tau; y~, K) (default 1e-4)
  --final-weight W      on | off: the bounded final weight w0 that makes the target the exact
                        posterior (default on when noiseStd > 0; required when a matching time
                        lies beyond the horizon; not with noiseStd = 0)
 tds only:
  --twist-tau2 X        tau^2 of the twist's variance rho_t = lambda_t tau^2 / (lambda_t + tau^2) (default 1)
  --gradient G          auto | exact | vjp | finite-difference | identity | none (default auto: exact
                        for the mixture)
 class-conditional models (a --model file with "classes": the class of each component;
 docs/MATH.md §12; not the chain methods):
  --class C             generate class C (0-based): the sub-mixture of its components
  --guidance G          cfg | classifier: classifier-free guidance, score form
                        (1 - W) s_null + W s_C, or classifier guidance s_null + W grad log p_t(C | x)
                        with the model's exact noisy classifier; heuristics unless W is 1
                        (or 0 for cfg): README "Guidance"
  --guidance-scale W    W (default 1); diffusers' guidance_scale is the same W, Ho & Salimans' w is W - 1
  --guidance-rescale F  cfg: rescale phi in [0, 1] (default 0)
  --guidance-weighted   cfg with smc or tds: propose with W, weight back to the conditional model (exact)
 particle-gibbs and pmmh only (MATH.md §11; --samples is the number of chains K, --particles
 the particles N of each sweep's filter, default 256; the CPU backend):
  --sweeps M            sweeps per chain (default 100, at most 65535)
  --burn-in B           sweeps left out (default 10)
  --thin T              keep every T-th post-burn-in sweep (default 1): the .npy holds
                        K * floor((M - B) / T) rows, chain-major
  --refresh R           particle-gibbs: mh (exact, default) | forward (re-noising, approximate)
  --pcn-beta B          pmmh: pCN parameter in [0, 1) (default 0: a fresh forward path)
 on a queue (replacement, langevin, repaint, smc; README "Scale-out"):
  --redis URL           run the samples on the condiff workers of a BullMQ queue at this Redis
                        (redis://host:port); the same files, byte for byte, as a local run
  --queue NAME          the queue's name (default condiff)
  --chunk-runs R        samples per chunk (default: about 1.5e7 particles x steps x D of work)
  --attempts A          tries per chunk before the job fails (default 3)
Prints a one-line JSON summary on stdout (stderr with --out -; for the chain methods with the
move rate, the acceptance rate and the autocorrelation time and ESS per latent coordinate); a
progress bar on stderr when it is a terminal. Ctrl-C stops a run at once (exit status 130; 143 for SIGTERM), leaving --out as it was.`;

const DEMO_WHAT = `a built-in 3-D two-mode problem, every method against the exact posterior (sliced
Wasserstein distance and its noise floor). It first prints how long it will take: about 3 s
of CPU time per 1000 samples, shared by the threads (about 2 s on 2 free cores).`;

const DEMO_FLAGS = `  --samples K           draws per method (default 1000)
  --seed X              seed (default 0)
  --threads P           worker threads (default: all cores)`;

const EXIT_STATUS = 'Exit status: 0 success, 2 usage or input error, 1 internal error (set CONDIFF_DEBUG=1 for the stack).';

/** condiff sample --help, condiff help sample. */
export const SAMPLE_USAGE = `condiff sample: ${SAMPLE_WHAT}

Usage:
  condiff sample --model M.json --observe O.json --method METHOD --out FILE.npy [options]

${SAMPLE_FLAGS}

${EXIT_STATUS}`;

/** condiff demo --help, condiff help demo. */
export const DEMO_USAGE = `condiff demo: ${DEMO_WHAT}

Usage:
  condiff demo [--samples K] [--seed X] [--threads P]

${DEMO_FLAGS}`;

/** condiff help: every command, with the flags of sample and demo. */
export const USAGE = `condiff: conditional sampling from diffusion models (Gaussian-mixture score models)

Usage:
  condiff sample --model M.json --observe O.json --method METHOD --out FILE.npy [options]
  condiff demo [--samples K] [--seed X] [--threads P]
  condiff bench [--method M[,M..]] [--particles N1,N2,..] [--out DIR] [options]
  condiff inpaint [--digits N] [--completions K] [--steps S] [--particles N] [--out FILE.png] [options]
  condiff restore [--digits N] [--completions K] [--steps S] [--particles N] [--noise S] [--out FILE.png] [options]
  condiff info [--json]
  condiff serve [--port P] [--host H] [--model NAME=FILE ...] [--token T] [--max-work W]
  condiff worker --redis URL [--concurrency C] [--model NAME=FILE ...]
  condiff help [sample|demo|bench|inpaint|restore|info|serve|worker]
  condiff --version

sample: ${SAMPLE_WHAT}
${SAMPLE_FLAGS}

demo: ${DEMO_WHAT}
${DEMO_FLAGS}

bench: sweeps particle counts (smc), Langevin steps or RePaint jumps, and reports time, ESS,
log-evidence and the distance to the exact posterior, with plots (see condiff help bench).

inpaint: completes held-out 8x8 digits with the shipped ONNX network by every method; a table
and a PNG grid (see condiff help inpaint).

restore: restores held-out digits from noisy observations (inpainting, 2x super-resolution) by
replacement, smc, mcgdiff and fps; a table and a PNG grid (see condiff help restore).

info: the backends this install can use (cpu, cuda), the CUDA device's name and memory, and
the CPU threads.

serve: a sampling service over HTTP (POST /v1/sample; see condiff help serve).

worker: runs chunks of sampling jobs from a BullMQ queue on Redis (see condiff help worker).

${EXIT_STATUS}`;

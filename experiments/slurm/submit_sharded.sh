#!/usr/bin/env bash
# Runs one experiment across a Slurm cluster: the scoring run(s) on one node, the retrains as
# a job array of N shards once the scores exist, then one job that merges the shards' rows
# and writes the tables. The results folder must be on a file system every node sees.
#
#   experiments/slurm/submit_sharded.sh EXPERIMENT.yaml N [RESULTS_DIR]
#
# RESULTS_DIR defaults to results/<file stem> (give it when the file sets another `name:`).
# Set DYNUNC to the binary (default target/release/dynunc, built with --features wgpu for GPUs)
# and SBATCH_ARGS for site options (partition, account, --gres=gpu:1, --time).
set -euo pipefail
exp=${1:?usage: $0 EXPERIMENT.yaml N [RESULTS_DIR]}
n=${2:?usage: $0 EXPERIMENT.yaml N [RESULTS_DIR]}
dir=${3:-results/$(basename "$exp" .yaml)}
bin=${DYNUNC:-target/release/dynunc}
read -r -a site <<< "${SBATCH_ARGS:-}"

"$bin" run "$exp" --dry-run   # fails here, before anything is queued, if the file is wrong

score=$(sbatch --parsable "${site[@]}" --job-name=dynunc-score \
    --wrap "$bin run $exp --scores-only")
shards=$(sbatch --parsable "${site[@]}" --job-name=dynunc-shard \
    --dependency="afterok:$score" --array="1-$n" \
    --wrap "$bin run $exp --shard \${SLURM_ARRAY_TASK_ID}/$n")
report=$(sbatch --parsable "${site[@]}" --job-name=dynunc-report \
    --dependency="afterok:$shards" \
    --wrap "$bin report $dir")
echo "queued: scoring $score, shards $shards (1-$n), report $report; results in $dir"

#!/bin/bash
# r1lab scale on several nodes with SLURM: one `accelerate launch` per node, each starting
# one process per GPU; the nodes meet at the first node's address. Submit with
#   sbatch docs/slurm_scale.sh
# from the repository root, after `pip install -e ".[gpu]"` in the environment the jobs use.
#SBATCH --job-name=r1lab-scale
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1          # one launcher per node; it starts the GPU processes
#SBATCH --gres=gpu:8
#SBATCH --cpus-per-task=64
#SBATCH --time=12:00:00
#SBATCH --output=runs/slurm-%j.log

set -euo pipefail
GPUS_PER_NODE=8
MAIN_NODE=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)

srun bash -c "accelerate launch \
    --config_file configs/accelerate/deepspeed_zero3.yaml \
    --num_machines $SLURM_NNODES \
    --num_processes $((SLURM_NNODES * GPUS_PER_NODE)) \
    --machine_rank \$SLURM_NODEID \
    --main_process_ip $MAIN_NODE \
    --main_process_port 29500 \
    -m r1lab scale \
        --model Qwen/Qwen2.5-7B-Instruct \
        --prompts-per-step 128 \
        --out runs/scale/qwen2.5-7b-$SLURM_JOB_ID"

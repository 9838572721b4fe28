version 1.0

# virnucpro on Terra / Cromwell / miniwdl: reads (BAM, SAM, CRAM, FASTA or FASTQ, plain or
# compressed) -> viral calls. With shards > 1 the input is split into that many parts run at once
# (`predict --shard I/N`, each on its own machine and GPU) and joined by `merge`; the result is
# byte-identical to one whole run. Models are given as tar archives of their directories (the
# Hugging Face snapshot of ESM-2 3B and DNABERT-S) or as paths on a filesystem the tasks share.

workflow virnucpro {
    input {
        File reads
        Int expected_length = 500
        # Tar archives (.tar or .tar.gz) of the model directories, or paths every task can read.
        File? esm_tar
        File? dnabert_tar
        String? esm_dir
        String? dnabert_dir
        File classifier
        Int shards = 1
        Boolean use_gpu = true
        Float min_score = 0.5
        Boolean rename_duplicates = false
        String docker = "virnucpro:latest"
        Int cpu = 8
        String memory = "32 GiB"
        String gpu_type = "nvidia-tesla-t4"
        Int disk_gb = 100
    }

    if (shards > 1) {
        scatter (i in range(shards)) {
            call predict as predict_shard {
                input:
                    reads = reads, expected_length = expected_length,
                    esm_tar = esm_tar, dnabert_tar = dnabert_tar,
                    esm_dir = esm_dir, dnabert_dir = dnabert_dir, classifier = classifier,
                    shard = "~{i + 1}/~{shards}", use_gpu = use_gpu, min_score = min_score,
                    rename_duplicates = rename_duplicates, docker = docker, cpu = cpu,
                    memory = memory, gpu_type = gpu_type, disk_gb = disk_gb
            }
        }
        call merge {
            input: shard_dirs = predict_shard.out_dir, docker = docker, disk_gb = disk_gb
        }
    }

    if (shards <= 1) {
        call predict as predict_whole {
            input:
                reads = reads, expected_length = expected_length,
                esm_tar = esm_tar, dnabert_tar = dnabert_tar,
                esm_dir = esm_dir, dnabert_dir = dnabert_dir, classifier = classifier,
                use_gpu = use_gpu, min_score = min_score, rename_duplicates = rename_duplicates,
                docker = docker, cpu = cpu, memory = memory, gpu_type = gpu_type,
                disk_gb = disk_gb
        }
    }

    output {
        File prediction_results = select_first([merge.prediction_results, predict_whole.prediction_results])
        File prediction_results_highestscore = select_first([merge.prediction_results_highestscore, predict_whole.prediction_results_highestscore])
        File sequence_summary = select_first([merge.sequence_summary, predict_whole.sequence_summary])
        File viruses = select_first([merge.viruses, predict_whole.viruses])
        File kraken = select_first([merge.kraken, predict_whole.kraken])
        File summary_json = select_first([merge.summary_json, predict_whole.summary_json])
    }

    parameter_meta {
        reads: "BAM/SAM/CRAM (unaligned or aligned reads; pairs become NAME/1, NAME/2) or FASTA/FASTQ"
        expected_length: "chunk length of the classifier: 300 or 500"
        classifier: "300_model.pth or 500_model.pth, matching expected_length"
        shards: "parts run at once, each a task of its own; 1 runs the whole input in one task"
    }
}

# One `virnucpro predict`: the whole input, or one shard of it (`shard` = "I/N").
task predict {
    input {
        File reads
        Int expected_length
        File? esm_tar
        File? dnabert_tar
        String? esm_dir
        String? dnabert_dir
        File classifier
        String? shard
        Boolean use_gpu
        Float min_score
        Boolean rename_duplicates
        String docker
        Int cpu
        String memory
        String gpu_type
        Int disk_gb
    }

    command <<<
        set -euo pipefail
        model_dir() {  # model_dir TAR DIR NAME: where the model is, extracting TAR when given
            if [ -n "$1" ]; then
                mkdir -p "models/$3" && tar -xf "$1" -C "models/$3"
                # An archive of one top-level directory: use that directory.
                inner=$(find "models/$3" -mindepth 1 -maxdepth 1)
                if [ "$(echo "$inner" | wc -l)" -eq 1 ] && [ -d "$inner" ]; then echo "$inner"; else echo "models/$3"; fi
            else
                echo "$2"
            fi
        }
        esm=$(model_dir "~{default="" esm_tar}" "~{default="" esm_dir}" esm2)
        dnabert=$(model_dir "~{default="" dnabert_tar}" "~{default="" dnabert_dir}" dnabert)
        virnucpro predict "~{reads}" -L ~{expected_length} -o out \
            --esm "$esm" --dnabert "$dnabert" --classifier "~{classifier}" \
            --device ~{if use_gpu then "cuda" else "cpu"} -t ~{cpu} \
            --min-score ~{min_score} ~{if rename_duplicates then "--rename-duplicates" else ""} \
            ~{if defined(shard) then "--shard " + shard else ""} \
            --kraken-output out/kraken.txt
        # viruses.fastq when the reads had qualities, else viruses.fna.
        if [ -e out/viruses.fastq ]; then echo viruses.fastq; else echo viruses.fna; fi > viruses_name
        tar -cf out.tar out
    >>>

    output {
        File out_dir = "out.tar"
        File prediction_results = "out/prediction_results.txt"
        File prediction_results_highestscore = "out/prediction_results_highestscore.csv"
        File sequence_summary = "out/sequence_summary.tsv"
        File viruses = "out/" + read_string("viruses_name")
        File kraken = "out/kraken.txt"
        File summary_json = "out/summary.json"
    }

    runtime {
        docker: docker
        cpu: cpu
        memory: memory
        disks: "local-disk ~{disk_gb} SSD"
        # miniwdl reads `gpu`; Cromwell on Terra reads gpuType / gpuCount.
        gpu: use_gpu
        gpuType: gpu_type
        gpuCount: if use_gpu then 1 else 0
        maxRetries: 2
    }
}

# `virnucpro merge` of the shards' output directories (tar archives) into the whole result.
task merge {
    input {
        Array[File] shard_dirs
        String docker
        Int disk_gb
    }

    command <<<
        set -euo pipefail
        dirs=()
        i=0
        for t in ~{sep=" " shard_dirs}; do
            i=$((i + 1))
            mkdir -p "shards/$i" && tar -xf "$t" -C "shards/$i"
            dirs+=("shards/$i/out")
        done
        virnucpro merge "${dirs[@]}" -o out --kraken-output out/kraken.txt
        # viruses.fastq when the reads had qualities, else viruses.fna.
        if [ -e out/viruses.fastq ]; then echo viruses.fastq; else echo viruses.fna; fi > viruses_name
    >>>

    output {
        File prediction_results = "out/prediction_results.txt"
        File prediction_results_highestscore = "out/prediction_results_highestscore.csv"
        File sequence_summary = "out/sequence_summary.tsv"
        File viruses = "out/" + read_string("viruses_name")
        File kraken = "out/kraken.txt"
        File summary_json = "out/summary.json"
    }

    runtime {
        docker: docker
        cpu: 2
        memory: "8 GiB"
        disks: "local-disk ~{disk_gb} SSD"
        maxRetries: 2
    }
}

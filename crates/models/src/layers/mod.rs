//! Building blocks shared by the encoders, written once.

pub mod activation;
pub mod alibi;
pub mod attention;
pub mod cpu_attention;
pub mod rotary;
pub mod row_blocks;
pub mod safetensors_file;
pub mod weights;

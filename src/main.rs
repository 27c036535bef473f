use std::process::ExitCode;

fn main() -> ExitCode {
    flink_chatops::cli::main()
}

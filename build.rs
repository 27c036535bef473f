// The templates in responses/ are embedded with include_dir!, which cargo does not track:
// rebuild when any of them changes so the binary never carries stale runbooks.
fn main() {
    println!("cargo:rerun-if-changed=responses");
}

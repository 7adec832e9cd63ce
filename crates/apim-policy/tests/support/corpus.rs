//! Loads the policy XML texts of the real-world corpus (../shared/corpus, or $APIM_EMU_CORPUS), sorted by
//! path, for tests and benches; an empty list when the corpus is absent (callers say so loudly).

pub fn corpus_texts() -> Vec<String> {
    let dir = std::env::var_os("APIM_EMU_CORPUS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus")
        });
    let mut paths = Vec::new();
    let mut stack = vec![dir];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|ext| ext == "xml") {
                paths.push(path);
            }
        }
    }
    paths.sort();
    paths
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .collect()
}

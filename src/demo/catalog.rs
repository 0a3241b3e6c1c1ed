//! The demo catalog: categories and course topics with tags.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::domain::{Course, Level};

/// A course topic and its tags besides the category and level.
pub type Topic = (&'static str, &'static [&'static str]);

/// (category, [(topic, extra tags)]): eight topics per category, each sold
/// at three levels, so the catalog has 14 × 8 × 3 = 336 courses.
pub const CATALOG: &[(&str, [Topic; 8])] = &[
    (
        "python",
        [
            ("Python Basics", &["basics"]),
            ("Python Data Structures", &["data-structures"]),
            ("Testing with pytest", &["testing"]),
            ("Async Python with asyncio", &["async"]),
            ("Python Packaging", &["tooling"]),
            ("Web APIs with FastAPI", &["web", "api"]),
            ("Python Performance", &["performance"]),
            ("Automation with Python", &["scripting"]),
        ],
    ),
    (
        "rust",
        [
            ("Rust Ownership and Borrowing", &["systems", "memory"]),
            ("Async Rust with Tokio", &["async", "systems"]),
            ("Rust Traits and Generics", &["types"]),
            ("Error Handling in Rust", &["errors"]),
            ("Web Services with Axum", &["web", "async"]),
            ("Unsafe Rust and FFI", &["systems", "ffi"]),
            ("Embedded Rust", &["embedded", "systems"]),
            ("Concurrency in Rust", &["concurrency", "systems"]),
        ],
    ),
    (
        "go",
        [
            ("Go Fundamentals", &["basics"]),
            ("Goroutines and Channels", &["concurrency"]),
            ("REST APIs in Go", &["web", "api"]),
            ("Go Generics", &["types"]),
            ("Testing in Go", &["testing"]),
            ("Microservices in Go", &["microservices"]),
            ("Profiling Go Programs", &["performance"]),
            ("gRPC with Go", &["grpc", "api"]),
        ],
    ),
    (
        "javascript",
        [
            ("Modern JavaScript", &["es2023"]),
            ("TypeScript Essentials", &["typescript"]),
            ("Node.js Backends", &["node", "web"]),
            ("Async JavaScript", &["async"]),
            ("Testing JavaScript with Vitest", &["testing"]),
            ("JavaScript Design Patterns", &["patterns"]),
            ("Deno and Bun", &["runtime"]),
            ("Functional JavaScript", &["functional"]),
        ],
    ),
    (
        "frontend",
        [
            ("React from Scratch", &["react"]),
            ("CSS Layout with Grid and Flexbox", &["css"]),
            ("Vue 3", &["vue"]),
            ("Web Accessibility", &["a11y"]),
            ("Next.js Applications", &["react", "ssr"]),
            ("Frontend Performance", &["performance"]),
            ("State Management", &["react", "state"]),
            ("Svelte and SvelteKit", &["svelte"]),
        ],
    ),
    (
        "machine-learning",
        [
            ("Linear Models", &["statistics"]),
            ("Deep Learning with PyTorch", &["pytorch", "deep-learning"]),
            ("NLP with Transformers", &["nlp", "transformers"]),
            ("Computer Vision", &["vision", "deep-learning"]),
            ("Recommender Systems", &["recsys"]),
            ("ML in Production", &["mlops"]),
            ("Feature Engineering", &["features"]),
            ("Reinforcement Learning", &["rl"]),
        ],
    ),
    (
        "devops",
        [
            ("Docker in Depth", &["docker", "containers"]),
            ("Kubernetes", &["kubernetes", "containers"]),
            ("CI/CD Pipelines", &["ci"]),
            ("Terraform", &["iac"]),
            ("Observability with Prometheus", &["monitoring"]),
            ("Linux Administration", &["linux"]),
            ("Ansible Automation", &["iac"]),
            ("GitOps with Argo CD", &["gitops", "kubernetes"]),
        ],
    ),
    (
        "algorithms",
        [
            ("Big-O and Sorting", &["complexity"]),
            ("Graph Algorithms", &["graphs"]),
            ("Dynamic Programming", &["dp"]),
            ("Data Structures", &["data-structures"]),
            ("Coding Interview Prep", &["interviews"]),
            ("String Algorithms", &["strings"]),
            ("Competitive Programming", &["contests"]),
            ("Randomized Algorithms", &["probability"]),
        ],
    ),
    (
        "databases",
        [
            ("SQL Fundamentals", &["sql"]),
            ("PostgreSQL Internals", &["postgres", "sql"]),
            ("Query Optimization", &["sql", "performance"]),
            ("MongoDB", &["nosql"]),
            ("Redis", &["nosql", "caching"]),
            ("Database Design", &["modeling"]),
            ("Transactions and Isolation", &["sql", "concurrency"]),
            ("Time-Series Databases", &["timeseries"]),
        ],
    ),
    (
        "mobile",
        [
            ("Android with Kotlin", &["android", "kotlin"]),
            ("iOS with SwiftUI", &["ios", "swift"]),
            ("Flutter", &["flutter", "dart"]),
            ("React Native", &["react-native"]),
            ("Mobile UI Design", &["design"]),
            ("Jetpack Compose", &["android", "kotlin"]),
            ("Mobile App Testing", &["testing"]),
            ("Publishing Mobile Apps", &["release"]),
        ],
    ),
    (
        "security",
        [
            ("Web Security: OWASP Top 10", &["web", "owasp"]),
            ("Applied Cryptography", &["crypto"]),
            ("Penetration Testing", &["pentest"]),
            ("Secure Coding", &["appsec"]),
            ("Threat Modeling", &["appsec"]),
            ("Network Security", &["network"]),
            ("Identity and OAuth", &["auth"]),
            ("Reverse Engineering", &["binary"]),
        ],
    ),
    (
        "data-engineering",
        [
            ("Apache Spark", &["spark", "batch"]),
            ("Airflow Pipelines", &["airflow", "orchestration"]),
            ("Kafka Streaming", &["kafka", "streaming"]),
            ("Data Warehousing", &["warehouse", "sql"]),
            ("dbt for Analytics", &["dbt", "sql"]),
            ("Data Lakes", &["lakehouse"]),
            ("Stream Processing with Flink", &["flink", "streaming"]),
            ("Data Quality", &["testing"]),
        ],
    ),
    (
        "cloud",
        [
            ("AWS Fundamentals", &["aws"]),
            ("Serverless Applications", &["serverless"]),
            ("Google Cloud Platform", &["gcp"]),
            ("Microsoft Azure", &["azure"]),
            ("Cloud Architecture", &["architecture"]),
            ("Cloud Cost Optimization", &["finops"]),
            ("Cloud Networking", &["network"]),
            ("Multi-Cloud Strategies", &["architecture"]),
        ],
    ),
    (
        "java",
        [
            ("Java Fundamentals", &["basics"]),
            ("Spring Boot", &["spring", "web"]),
            ("JVM Performance", &["jvm", "performance"]),
            ("Kotlin for Java Developers", &["kotlin"]),
            ("Java Concurrency", &["concurrency"]),
            ("Hibernate and JPA", &["orm", "sql"]),
            ("Reactive Java", &["reactive"]),
            ("Testing Java with JUnit", &["testing"]),
        ],
    ),
];

fn title(topic: &str, level: Level, variant: usize) -> String {
    match (level, variant % 2) {
        (Level::Beginner, 0) => format!("{topic}: The Basics"),
        (Level::Beginner, _) => format!("Getting Started: {topic}"),
        (Level::Intermediate, 0) => format!("Practical {topic}"),
        (Level::Intermediate, _) => format!("{topic} in Practice"),
        (Level::Advanced, 0) => format!("Advanced {topic}"),
        (Level::Advanced, _) => format!("Mastering {topic}"),
    }
}

/// Price in cents ending in 900: advanced courses cost more.
fn price(level: Level, rng: &mut ChaCha8Rng) -> i64 {
    let (lo, hi) = match level {
        Level::Beginner => (1, 5),
        Level::Intermediate => (4, 11),
        Level::Advanced => (8, 19),
    };
    rng.random_range(lo..=hi) * 1000 + 900
}

/// The catalog, ids "c001"…, grouped by category in [`CATALOG`] order.
pub fn courses(rng: &mut ChaCha8Rng) -> Vec<Course> {
    let mut out = Vec::new();
    for (category, topics) in CATALOG {
        for (t, (topic, extra)) in topics.iter().enumerate() {
            for level in [Level::Beginner, Level::Intermediate, Level::Advanced] {
                let mut tags = vec![category.to_string()];
                tags.extend(extra.iter().map(|s| s.to_string()));
                tags.push(level.as_str().to_string());
                out.push(Course {
                    id: format!("c{:03}", out.len() + 1),
                    title: title(topic, level, t),
                    category: category.to_string(),
                    tags,
                    level,
                    price_cents: price(level, rng),
                    // A few retired courses keep their history.
                    active: rng.random::<f64>() > 0.03,
                    prerequisites: vec![],
                });
            }
        }
    }
    out
}

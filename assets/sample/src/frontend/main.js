// Asks which version answered and shows it.
fetch("/api/health")
  .then((r) => r.json())
  .then((h) => {
    const p = document.createElement("p");
    p.textContent = `served by version ${h.version}`;
    document.body.appendChild(p);
  });

// `blink build` bundles the echo agent into .blink/build/agent.js: the bundle the deployment tests upload.
export default { entry: "echo-agent.mjs" };

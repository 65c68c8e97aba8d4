// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title NodeReputation (reference implementation)
/// @notice Local stand-in for the NodeReputation contract deployed on opBNB, with exactly its ABI. Used by the tests
/// and the local development network; the agent never relies on behaviour beyond the ABI.
contract NodeReputation {
    struct Provider {
        string gpuModel;
        uint256 vram;
        uint256 lastSeen;
        bool isRegistered;
    }

    /// A provider counts as active while its last heartbeat or registration is at most this old.
    uint256 private constant ACTIVE_WINDOW = 5 minutes;

    mapping(address => Provider) public providers;
    mapping(address => uint256) public successfulJobsCount;
    uint256 public totalProviders;

    address private _owner;
    address[] private _providerList;

    error OwnableUnauthorizedAccount(address account);
    error OwnableInvalidOwner(address owner);

    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    event NodeRegistered(address indexed provider, string gpuModel, uint256 vram);
    event NodeHeartbeat(address indexed provider, uint256 timestamp);
    event JobCountIncremented(address indexed provider, uint256 newCount);

    modifier onlyOwner() {
        if (msg.sender != _owner) revert OwnableUnauthorizedAccount(msg.sender);
        _;
    }

    constructor() {
        _transferOwnership(msg.sender);
    }

    function owner() public view returns (address) {
        return _owner;
    }

    function transferOwnership(address newOwner) public onlyOwner {
        if (newOwner == address(0)) revert OwnableInvalidOwner(address(0));
        _transferOwnership(newOwner);
    }

    function renounceOwnership() public onlyOwner {
        _transferOwnership(address(0));
    }

    /// Registers the caller, or updates its specs when it is registered already (hardware changes over time).
    function registerNode(string memory gpuModel, uint256 vram) public {
        require(bytes(gpuModel).length > 0, "GPU model required");
        Provider storage p = providers[msg.sender];
        if (!p.isRegistered) {
            p.isRegistered = true;
            totalProviders += 1;
            _providerList.push(msg.sender);
        }
        p.gpuModel = gpuModel;
        p.vram = vram;
        p.lastSeen = block.timestamp;
        emit NodeRegistered(msg.sender, gpuModel, vram);
    }

    function sendHeartbeat() public {
        Provider storage p = providers[msg.sender];
        require(p.isRegistered, "Provider not registered");
        p.lastSeen = block.timestamp;
        emit NodeHeartbeat(msg.sender, block.timestamp);
    }

    function incrementJobs(address provider) public onlyOwner {
        require(providers[provider].isRegistered, "Provider not registered");
        uint256 count = successfulJobsCount[provider] + 1;
        successfulJobsCount[provider] = count;
        emit JobCountIncremented(provider, count);
    }

    function isProviderActive(address provider) public view returns (bool) {
        Provider storage p = providers[provider];
        return p.isRegistered && block.timestamp <= p.lastSeen + ACTIVE_WINDOW;
    }

    function getProviderInfo(address provider)
        public
        view
        returns (Provider memory providerInfo, uint256 jobCount)
    {
        return (providers[provider], successfulJobsCount[provider]);
    }

    function getActiveProvidersCount() public view returns (uint256 count) {
        for (uint256 i = 0; i < _providerList.length; i++) {
            if (isProviderActive(_providerList[i])) count += 1;
        }
    }

    function _transferOwnership(address newOwner) private {
        address previous = _owner;
        _owner = newOwner;
        emit OwnershipTransferred(previous, newOwner);
    }
}
